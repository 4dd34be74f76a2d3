package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/labstack/echo/v4"

	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/workflows"
)

// memoFingerprint is the workflow memo field holding the prepare request's
// fingerprint, compared when the same id is prepared again.
const memoFingerprint = "courier_fingerprint"

// memoConsumers is the workflow memo field holding the message's named
// consumers (an empty list when there are none). With it, the workflow's
// description alone decides a signal, without asking a worker.
const memoConsumers = "courier_consumers"

// prepareResponse answers prepare and send.
type prepareResponse struct {
	ID     string        `json:"id"`
	Status models.Status `json:"status"`
}

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
		pm, err := s.rules.decodePrepare(body, direct, time.Now())
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), temporalTimeout)
		defer cancel()
		id := pm.input.Message.ID
		_, err = s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                                       workflows.WorkflowID(id),
			TaskQueue:                                s.cfg.TaskQueue,
			WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
			WorkflowExecutionErrorWhenAlreadyStarted: true,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				workflows.SearchAttrStatus.ValueSet(string(pm.status)),
				workflows.SearchAttrTopic.ValueSet(pm.input.Message.Topic),
			),
			Memo: map[string]any{
				memoFingerprint: pm.fingerprint,
				memoConsumers:   append([]string{}, pm.input.Message.Consumers...),
			},
		}, workflows.WorkflowType, pm.input)
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return s.prepareAgain(c, id, pm.fingerprint)
		}
		if err != nil {
			return temporalFailure("start message "+id, err)
		}
		s.logger.Info("message prepared", "id", id, "topic", pm.input.Message.Topic, "status", pm.status, "by", caller(c))
		return c.JSON(http.StatusCreated, prepareResponse{ID: id, Status: pm.status})
	}
}

// prepareAgain answers a prepare of an id that already has a workflow: the
// same request is a retry (200 with the current status), a different one a
// conflict.
func (s *Server) prepareAgain(c echo.Context, id, fp string) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), temporalTimeout)
	defer cancel()
	resp, err := s.temporal.DescribeWorkflowExecution(ctx, workflows.WorkflowID(id), "")
	if err != nil {
		return temporalFailure("describe message "+id, err)
	}
	var existing string
	if p := resp.GetWorkflowExecutionInfo().GetMemo().GetFields()[memoFingerprint]; p != nil {
		if err := converter.GetDefaultDataConverter().FromPayload(p, &existing); err != nil {
			return internalError(fmt.Sprintf("read the fingerprint of message %s", id), err)
		}
	}
	if existing != fp {
		return conflict(codeIDConflict, "message %q exists with different content; use a new id", id)
	}
	// The current status, from the description just read when it has the
	// consumers memo (as describedState would take it), else as
	// queryLookup finds it.
	if d, err := describedFrom(id, resp); err == nil && d.consumersKnown {
		return c.JSON(http.StatusOK, prepareResponse{ID: id, Status: d.status})
	}
	st, err := s.queryLookup(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, prepareResponse{ID: id, Status: st.status})
}
