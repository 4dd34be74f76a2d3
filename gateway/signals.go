package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/workflows"
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

// outcomeAccepted answers a signal the gateway could not decide because the
// workflow could not be asked: it was sent, and the workflow decides it
// (recorded in its state) once a worker runs it. HTTP 202.
const outcomeAccepted models.Disposition = "accepted"

// signalRoute handles POST /v1/messages/{id}/<signal>.
func (s *Server) signalRoute(name string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		body, err := requestBody(c.Request(), maxSmallBody)
		if err != nil {
			return err
		}
		var arg any
		var consumer string
		if name == workflows.SignalComplete {
			var req completionRequest
			if err := decodeStrict(body, &req, true); err != nil {
				return err
			}
			if req.Consumer != "" {
				if err := checkConsumer(req.Consumer); err != nil {
					return invalid("%v", err)
				}
			}
			consumer = req.Consumer
			arg = workflows.Completion{Consumer: req.Consumer}
		} else {
			var req decisionRequest
			if err := decodeStrict(body, &req, true); err != nil {
				return err
			}
			if utf8.RuneCountInString(req.Reason) > maxReasonLen {
				return invalid("reason is longer than %d characters", maxReasonLen)
			}
			arg = workflows.Decision{By: caller(c), Reason: req.Reason}
		}
		res, err := s.signal(c.Request().Context(), id, name, consumer, arg)
		if err != nil {
			return err
		}
		switch res.Outcome {
		case models.Rejected:
			return conflict(codeConflict, "%s: %s", name, res.reason)
		case outcomeAccepted:
			return c.JSON(http.StatusAccepted, res.signalResponse)
		}
		return c.JSON(http.StatusOK, res.signalResponse)
	}
}

// signalResult is how a signal request was decided.
type signalResult struct {
	signalResponse
	reason string
}

// signal decides what signal name does to message id, with the same
// models.Decide the workflow uses, and sends it only when it is Applied.
// Rejected is a result, not an error; errors are for a message that is not
// found or a dependency that failed.
//
// It is first sent as an update, which the workflow itself decides and
// answers (see update). Failing that, the workflow's description decides,
// with no worker involved; an answer other than Applied from it is checked
// with the state query, which waits for a workflow task in flight (see
// describedState).
func (s *Server) signal(ctx context.Context, id, name, consumer string, arg any) (signalResult, error) {
	if res, ok := s.update(ctx, id, name, arg); ok {
		s.metrics.signal(name, string(res.Outcome))
		return res, nil
	}
	if st, ok := s.describedState(ctx, id, name == workflows.SignalComplete); ok {
		if res := decide(id, name, consumer, st); res.Outcome == models.Applied {
			return s.send(ctx, id, name, consumer, arg, res)
		}
	}
	st, err := s.queryLookup(ctx, id)
	if err != nil {
		s.metrics.signal(name, "failed")
		return signalResult{}, err
	}
	res := decide(id, name, consumer, st)
	if res.Outcome != models.Applied {
		if !st.stale || st.status.Terminal() {
			s.metrics.signal(name, string(res.Outcome))
			return res, nil
		}
		// The workflow could not be asked (no worker polling, Temporal
		// restarting) and the mirror may lag it: a consumer can hold a
		// message the mirror still calls WAITING_CONFIRM. Signals are
		// durable and idempotent, so hand this one to the workflow, which
		// decides with the same table once it runs.
		res.Outcome = outcomeAccepted
		res.reason = ""
	}
	return s.send(ctx, id, name, consumer, arg, res)
}

// send signals the workflow of message id with the decided result res.
func (s *Server) send(ctx context.Context, id, name, consumer string, arg any, res signalResult) (signalResult, error) {
	sctx, cancel := context.WithTimeout(ctx, temporalTimeout)
	defer cancel()
	err := s.temporal.SignalWorkflow(sctx, workflows.WorkflowID(id), "", name, arg)
	if isNotFound(err) {
		// The workflow closed between the lookup and the signal; it flushed
		// its mirror row before closing, so the row has the final status.
		res, err = s.decideClosed(ctx, id, name, consumer)
	} else if err != nil {
		err = temporalFailure(fmt.Sprintf("signal %s to message %s", name, id), err)
	}
	if err != nil {
		s.metrics.signal(name, "failed")
		return signalResult{}, err
	}
	s.metrics.signal(name, string(res.Outcome))
	return res, nil
}

// decideClosed decides a signal for a message whose workflow has just closed,
// from its final mirror row.
func (s *Server) decideClosed(ctx context.Context, id, name, consumer string) (signalResult, error) {
	row, err := s.store.Get(ctx, id)
	if errors.Is(err, models.ErrNotFound) {
		return signalResult{}, notFound(id)
	}
	if err != nil {
		return signalResult{}, unavailable("the message mirror", err)
	}
	res := decide(id, name, consumer, messageState{status: row.Status, consumers: row.Consumers})
	if res.Outcome == models.Applied {
		res.Outcome = models.Rejected
		res.reason = fmt.Sprintf("message is %s and its workflow has ended", row.Status)
	}
	return res, nil
}

func decide(id, name, consumer string, st messageState) signalResult {
	outcome, reason := models.Decide(st.status, models.Action(name), consumer, st.consumers, st.completedBy)
	return signalResult{signalResponse: signalResponse{ID: id, Status: st.status, Outcome: outcome}, reason: reason}
}

// pathID is the {id} of the route, unescaped and valid; an id that cannot
// exist is simply not found.
func pathID(c echo.Context) (string, error) {
	raw := c.Param("id")
	id, err := url.PathUnescape(raw)
	if err != nil || checkID(id) != nil {
		return "", notFound(clip(raw))
	}
	return id, nil
}

// updateTimeout bounds the wait for an update's answer. An update waits for a
// worker to run the workflow; when none does in time, the signal goes
// instead, which the workflow takes whenever it runs.
const updateTimeout = 3 * time.Second

// update sends signal name to message id's workflow as an update and returns
// the workflow's own answer: applied, or repeated or rejected by the update's
// validator (workflows.UpdateResult). ok is false when there is no answer (no
// worker in time, a closed workflow, Temporal unavailable, a workflow whose
// code has no such update): the caller then decides and signals as before.
// Sending both is safe, since a repeat of an applied signal changes nothing.
func (s *Server) update(ctx context.Context, id, name string, arg any) (res signalResult, ok bool) {
	uctx, cancel := context.WithTimeout(ctx, updateTimeout)
	defer cancel()
	h, err := s.temporal.UpdateWorkflow(uctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(id),
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		var ur workflows.UpdateResult
		if err = h.Get(uctx, &ur); err == nil {
			return signalResult{signalResponse: signalResponse{ID: id, Status: ur.Status, Outcome: models.Applied}}, true
		}
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && (appErr.Type() == workflows.UpdateRepeated || appErr.Type() == workflows.UpdateRejected) {
		res = signalResult{signalResponse: signalResponse{ID: id, Outcome: models.Disposition(appErr.Type())}, reason: appErr.Message()}
		if appErr.HasDetails() && appErr.Details(&res.Status) == nil {
			return res, true
		}
	}
	if err != nil && !isNotFound(err) && !errors.Is(err, context.DeadlineExceeded) {
		s.logger.Debug("update not answered, signalling instead", "id", id, "update", name, "error", err)
	}
	return signalResult{}, false
}
