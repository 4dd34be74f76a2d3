package gateway

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/operations"
)

// redriveDead handles POST /v1/messages/redrive: it re-drives the DEAD
// messages of a topic (operations.Service.RedriveTopic), each through the
// same decision as POST /v1/messages/{id}/redrive.
func (s *Server) redriveDead(c echo.Context) error {
	body, err := requestBody(c.Request(), maxSmallBody)
	if err != nil {
		return err
	}
	var req wire.RedriveRequest
	if err := decodeStrict(body, &req, false); err != nil {
		return err
	}
	var errs []error
	if req.Topic == "" {
		errs = append(errs, errors.New("topic is required"))
	} else if err := models.CheckTopic(req.Topic); err != nil {
		errs = append(errs, err)
	}
	limit := operations.DefaultRedriveLimit
	if req.Limit != nil {
		limit = *req.Limit
		if limit < 1 || limit > operations.MaxRedriveLimit {
			errs = append(errs, fmt.Errorf("limit must be between 1 and %d, got %d", operations.MaxRedriveLimit, limit))
		}
	}
	if err := operations.CheckReason(req.Reason); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return invalid("%s", joinLines(err))
	}

	report, err := s.ops.RedriveTopic(c.Request().Context(), req.Topic, limit, caller(c).Name, req.Reason)
	resp := wire.RedriveResponse{Failed: []wire.RedriveFailure{}}
	for _, o := range report.Outcomes {
		s.metrics.signal(models.Redrive, o.Disposition)
		switch {
		case o.Err != nil:
			ae := classify(messageError(o.ID, o.Err))
			resp.Failed = append(resp.Failed, wire.RedriveFailure{ID: o.ID, Error: wire.ErrorDetail{Code: ae.code, Message: ae.msg}})
		case o.Disposition == wire.Applied:
			resp.Redriven++
		}
	}
	if err != nil { // the mirror, listing the DEAD messages
		return unavailable("the message mirror", err)
	}
	return c.JSON(http.StatusOK, resp)
}
