package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/workflows"
)

// queryTimeout bounds a state query. A query needs a worker; when none is
// polling it would wait for one, and the gateway rather falls back to the
// mirror.
const queryTimeout = 3 * time.Second

// temporalTimeout bounds every other Temporal call of a request.
const temporalTimeout = 10 * time.Second

// messageState is what deciding a signal needs to know about a message.
type messageState struct {
	status      models.Status
	consumers   []string
	completedBy []string
	// stale is set when the workflow could not be asked and the state comes
	// from the mirror or the search attributes, which may lag it.
	stale bool
}

// describedState is the state of message id from the workflow's description:
// the status search attribute, which the workflow upserts at every
// transition and the server keeps with the workflow, and the consumers memo.
// Reading it involves no worker. It is not ok when the description fails,
// the memo is missing (workflows started before it), or completions is set
// and the message has named consumers (who completed is not described).
//
// The status lags a workflow task in flight: a consumer can already hold a
// message the description still calls WAITING_CONFIRM. So only a signal this
// state Applies may be decided on it; anything else is asked again.
func (s *Server) describedState(ctx context.Context, id string, completions bool) (messageState, bool) {
	d, err := s.describe(ctx, id)
	if err != nil || !d.consumersKnown || (completions && len(d.consumers) > 0) {
		return messageState{}, false
	}
	return messageState{status: d.status, consumers: d.consumers}, true
}

// queryLookup finds the state of message id through the workflow's state
// query, which is the truth. When the workflow does not exist the message is
// not found, unless the mirror still has it (its workflow has passed
// Temporal's retention). When the query fails for another reason (no worker
// is polling, say) the mirror's row answers, and while the mirror has not
// caught up yet, the status search attribute of the workflow does.
func (s *Server) queryLookup(ctx context.Context, id string) (messageState, error) {
	st, qerr := s.query(ctx, id)
	if qerr == nil {
		return messageState{status: st.Status, consumers: st.Consumers, completedBy: st.CompletedBy}, nil
	}
	if !isNotFound(qerr) {
		s.logger.Warn("state query failed, falling back to the mirror", "id", id, "error", qerr)
	}
	row, err := s.store.Get(ctx, id)
	if err == nil {
		return messageState{status: row.Status, consumers: row.Consumers, stale: !isNotFound(qerr)}, nil
	}
	if !errors.Is(err, models.ErrNotFound) {
		return messageState{}, unavailable("the message mirror", err)
	}
	if isNotFound(qerr) {
		return messageState{}, notFound(id)
	}
	d, err := s.describe(ctx, id)
	if err != nil {
		return messageState{}, err
	}
	return messageState{status: d.status, stale: true}, nil
}

// query asks the workflow of message id for its State.
func (s *Server) query(ctx context.Context, id string) (workflows.State, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var st workflows.State
	v, err := s.temporal.QueryWorkflow(ctx, workflows.WorkflowID(id), "", workflows.QueryState)
	if err != nil {
		return st, err
	}
	if err := v.Get(&st); err != nil {
		return st, err
	}
	return st, nil
}

// described is what a workflow's description tells about its message.
type described struct {
	status  models.Status
	topic   string
	started time.Time
	// consumers are the named consumers from the memo; consumersKnown is
	// false for workflows started without that memo field.
	consumers      []string
	consumersKnown bool
}

// describe reads the CourierStatus and CourierTopic search attributes of
// message id's workflow, which the gateway sets at start and the workflow
// updates at every transition. It needs no worker.
func (s *Server) describe(ctx context.Context, id string) (described, error) {
	ctx, cancel := context.WithTimeout(ctx, temporalTimeout)
	defer cancel()
	resp, err := s.temporal.DescribeWorkflowExecution(ctx, workflows.WorkflowID(id), "")
	if isNotFound(err) {
		return described{}, notFound(id)
	}
	if err != nil {
		return described{}, temporalFailure("describe message "+id, err)
	}
	return describedFrom(id, resp)
}

// describedFrom reads what describe returns from a description already at
// hand.
func describedFrom(id string, resp *workflowservice.DescribeWorkflowExecutionResponse) (described, error) {
	info := resp.GetWorkflowExecutionInfo()
	fields := info.GetSearchAttributes().GetIndexedFields()
	dc := converter.GetDefaultDataConverter()
	var d described
	if p := fields[workflows.SearchAttrStatus.GetName()]; p == nil || dc.FromPayload(p, &d.status) != nil || !d.status.Valid() {
		return described{}, unavailable("the state of message "+id, errors.New("workflow has no readable status search attribute"))
	}
	if p := fields[workflows.SearchAttrTopic.GetName()]; p != nil {
		_ = dc.FromPayload(p, &d.topic) // the topic is informative only
	}
	d.started = info.GetStartTime().AsTime()
	if p := info.GetMemo().GetFields()[memoConsumers]; p != nil {
		d.consumersKnown = dc.FromPayload(p, &d.consumers) == nil
	}
	return d, nil
}

// isNotFound reports whether Temporal says the workflow does not exist (or,
// for a signal, has closed).
func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// temporalFailure classifies a failed Temporal call: the server being
// unreachable, overloaded or slow is 503 (retry); anything else is 500.
func temporalFailure(what string, err error) *apiError {
	var (
		unavail   *serviceerror.Unavailable
		deadline  *serviceerror.DeadlineExceeded
		exhausted *serviceerror.ResourceExhausted
		canceled  *serviceerror.Canceled
		notReady  *serviceerror.WorkflowNotReady
	)
	if errors.As(err, &unavail) || errors.As(err, &deadline) || errors.As(err, &exhausted) ||
		errors.As(err, &canceled) || errors.As(err, &notReady) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return unavailable("Temporal", fmt.Errorf("%s: %w", what, err))
	}
	if searchAttributesPending(err) {
		return unavailable("Temporal (Courier's search attributes are not registered in the namespace yet)",
			fmt.Errorf("%s: %w", what, err))
	}
	return internalError(what, err)
}

// searchAttributesPending reports Temporal refusing a request because the
// namespace does not know one of Courier's search attributes. The worker
// registers them when it starts, and a frontend learns of them seconds later
// (the soak's first sends against a namespace made moments before got this),
// so the request will succeed when retried: a 503, not a 500. Temporal names
// no error type for it; its message is all there is.
func searchAttributesPending(err error) bool {
	var invalid *serviceerror.InvalidArgument
	if !errors.As(err, &invalid) {
		return false
	}
	msg := invalid.Error()
	if !strings.Contains(msg, "has no mapping defined for search attribute") && !strings.Contains(msg, "is not defined") {
		return false
	}
	return strings.Contains(msg, workflows.SearchAttrStatus.GetName()) || strings.Contains(msg, workflows.SearchAttrTopic.GetName())
}
