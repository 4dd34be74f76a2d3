package gateway

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/tracing"
)

// prepare handles POST /v1/messages (direct false) and POST
// /v1/messages/send (direct true): validate everything, then start the
// message's workflow. The same id with the same request is answered 200 with
// the message's current status; with a different request, 409 id_conflict.
func (s *Server) prepare(direct bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		body, err := requestBody(c.Request(), s.rules.maxPrepareBody())
		if err != nil {
			return err
		}
		pm, err := s.rules.decodePrepare(body, direct, time.Now(), caller(c))
		if err != nil {
			return err
		}
		id := pm.input.Message.ID
		trace.SpanFromContext(c.Request().Context()).SetAttributes(attribute.String("courier.message.id", id))
		pm.input.Trace = tracing.Inject(c.Request().Context())
		started, err := s.messages.Start(c.Request().Context(), pm.input, pm.fingerprint)
		if err != nil {
			return messageError(id, err)
		}
		resp := wire.PrepareResponse{ID: id, Status: started.Status}
		if !started.Created {
			return c.JSON(http.StatusOK, resp)
		}
		s.logger.Info("message prepared", "id", id, "topic", pm.input.Message.Topic, "status", started.Status, "by", caller(c).Name)
		return c.JSON(http.StatusCreated, resp)
	}
}
