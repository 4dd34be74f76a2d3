package gateway

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/operations"
)

// signalRoute handles POST /v1/messages/{id}/<action> with the workflow's
// answer: 200 for applied and repeated, 202 for accepted (the workflow
// decides when it runs, or holds a complete until it publishes the
// message), 409 for rejected. Before the workflow is asked, the
// caller must be allowed to act on the message: its producer for confirm and
// cancel, a consumer of its topic (and one it names) for complete.
func (s *Server) signalRoute(action models.Action) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		body, err := requestBody(c.Request(), maxSmallBody)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		who := caller(c)
		req := contract.Request{Action: action}
		if action == models.Complete {
			var cr wire.CompletionRequest
			if err := decodeStrict(body, &cr, true); err != nil {
				return err
			}
			if cr.Consumer != "" {
				if err := models.CheckConsumer(cr.Consumer); err != nil {
					return invalid("%v", err)
				}
			}
			m, err := s.owner(ctx, id, who)
			if err != nil {
				return err
			}
			if req.Consumer, err = who.Complete(m, cr.Consumer); err != nil {
				return err
			}
		} else {
			var dr wire.DecisionRequest
			if err := decodeStrict(body, &dr, true); err != nil {
				return err
			}
			if err := operations.CheckReason(dr.Reason); err != nil {
				return invalid("%v", err)
			}
			if action != models.Redrive { // re-drive is an admin's route
				m, err := s.owner(ctx, id, who)
				if err != nil {
					return err
				}
				if err := who.Decide(m); err != nil {
					return err
				}
			}
			req.By, req.Reason = who.Name, dr.Reason
		}
		var a contract.Answer
		if action == models.Redrive { // an operator's action, audited
			a, err = s.ops.Act(ctx, id, req).Outcomes[0].Answer()
		} else {
			a, err = s.ops.Ask(ctx, id, req)
		}
		if err != nil {
			s.metrics.signal(action, models.Failed)
			return messageError(id, err)
		}
		s.metrics.signal(action, a.Disposition)
		resp := wire.SignalResponse{ID: id, Status: a.Status, PreviousStatus: a.Previous, Outcome: a.Disposition, Reason: a.Reason}
		switch a.Disposition {
		case wire.Rejected:
			return conflict(codeConflict, "%s: %s", action, a.Reason)
		case wire.Accepted:
			return c.JSON(http.StatusAccepted, resp)
		}
		return c.JSON(http.StatusOK, resp)
	}
}

// messageError classifies an error of the contract client about message id.
func messageError(id string, err error) error {
	var unav *contract.UnavailableError
	switch {
	case errors.Is(err, models.ErrNotFound):
		return notFound(id)
	case errors.Is(err, contract.ErrIDConflict):
		return conflict(codeIDConflict, "message %q exists with different content; use a new id", id)
	case errors.As(err, &unav):
		return unavailable(unav.Dependency, err)
	}
	return internalError("message "+id, err)
}

// pathID is the {id} of the route, unescaped and valid; an id that cannot
// exist is simply not found.
func pathID(c echo.Context) (string, error) {
	raw := c.Param("id")
	id, err := url.PathUnescape(raw)
	if err != nil || models.CheckID(id) != nil {
		return "", notFound(clip(raw))
	}
	return id, nil
}
