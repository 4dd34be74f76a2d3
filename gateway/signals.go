package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
)

// decisionRequest is the optional body of confirm, cancel and redrive.
type decisionRequest struct {
	Reason string `json:"reason"`
}

// completionRequest is the optional body of complete.
type completionRequest struct {
	Consumer string `json:"consumer"`
}

// signalResponse answers a signal route. Status is the status the request was
// decided on; an applied signal moves the message on from there.
type signalResponse struct {
	ID      string             `json:"id"`
	Status  models.Status      `json:"status"`
	Outcome models.Disposition `json:"outcome"`
}

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
			var cr completionRequest
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
			var dr decisionRequest
			if err := decodeStrict(body, &dr, true); err != nil {
				return err
			}
			if utf8.RuneCountInString(dr.Reason) > models.MaxReasonLen {
				return invalid("reason is longer than %d characters", models.MaxReasonLen)
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
		a, err := s.ask(ctx, id, req)
		if err != nil {
			return err
		}
		if action == models.Redrive {
			s.audit(ctx, models.AuditEntry{By: who.Name, Action: action, Reason: req.Reason,
				Outcomes: []models.AuditOutcome{{ID: id, Disposition: a.Disposition, Status: a.Status, Detail: a.Reason}}})
		}
		resp := signalResponse{ID: id, Status: a.Status, Outcome: a.Disposition}
		switch a.Disposition {
		case models.Rejected:
			return conflict(codeConflict, "%s: %s", action, a.Reason)
		case models.Accepted:
			return c.JSON(http.StatusAccepted, resp)
		}
		return c.JSON(http.StatusOK, resp)
	}
}

// audit records an operator's action through the API in the audit log,
// beside the console's. The action is taken whether or not the record is
// written; a failure to write it is logged.
func (s *Server) audit(ctx context.Context, e models.AuditEntry) {
	if e.Outcomes == nil {
		e.Outcomes = []models.AuditOutcome{}
	}
	if err := s.store.Audit(context.WithoutCancel(ctx), &e); err != nil {
		s.logger.Error("audit entry not written", "by", e.By, "action", e.Action, "error", err)
	}
}

// ask asks message id's workflow to act on req and counts the outcome.
func (s *Server) ask(ctx context.Context, id string, req contract.Request) (contract.Answer, error) {
	a, err := s.messages.Ask(ctx, id, req)
	if err != nil {
		s.metrics.signal(string(req.Action), "failed")
		return a, messageError(id, err)
	}
	s.metrics.signal(string(req.Action), string(a.Disposition))
	return a, nil
}

// messageError classifies an error of the workflows client about message id.
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
