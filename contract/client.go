package contract

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
)

// Client starts message workflows, asks them to act and reads their live
// state: everything outside the worker that talks to Temporal about a
// message goes through it, so the fallbacks for a workflow that cannot answer
// are decided here once. It is safe for concurrent use.
type Client struct {
	temporal  client.Client
	taskQueue string
	rows      Rows
	logger    *slog.Logger
}

// Rows is what the client reads of the mirror: the final row of a message
// whose workflow Temporal no longer keeps (past its retention). *store.Store
// satisfies it.
type Rows interface {
	// Get returns the row of message id, or an error wrapping
	// models.ErrNotFound.
	Get(ctx context.Context, id string) (*models.Message, error)
}

// ClientConfig shapes a Client.
type ClientConfig struct {
	// TaskQueue is where message workflows are started. Default TaskQueue; it
	// must be the worker's.
	TaskQueue string
	// Rows answers for messages whose workflow has passed Temporal's
	// retention. Required.
	Rows Rows
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// NewClient returns a Client over the Temporal client c.
func NewClient(c client.Client, cfg ClientConfig) (*Client, error) {
	if c == nil || cfg.Rows == nil {
		return nil, errors.New("contract client needs a Temporal client and the mirror's rows")
	}
	if cfg.TaskQueue == "" {
		cfg.TaskQueue = TaskQueue
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Client{temporal: c, taskQueue: cfg.TaskQueue, rows: cfg.Rows, logger: cfg.Logger}, nil
}

// Timeouts of the client's calls.
const (
	// answerTimeout bounds the wait for a workflow's own answer to an update
	// or a query. Both need a worker to run the workflow; when none does in
	// time the client answers without it.
	answerTimeout = 3 * time.Second
	// callTimeout bounds every other Temporal call.
	callTimeout = 10 * time.Second
)

// ErrIDConflict is returned by Start when a message with the same id exists
// with different content.
var ErrIDConflict = errors.New("message id exists with different content")

// Started is how Start went.
type Started struct {
	// Status is the message's status: its first, or for a repeated start,
	// its current one.
	Status wire.Status
	// Created is false when the same start had been made before.
	Created bool
}

// Start starts the workflow of the message in. fingerprint identifies the
// caller's request: starting the same id again with the same fingerprint is
// a retry, answered with the message's current status; with another it is
// ErrIDConflict. The input is pinned to CurrentVersion.
func (c *Client) Start(ctx context.Context, in Input, fingerprint string) (Started, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	in.Version = CurrentVersion
	status := in.FirstStatus(time.Now())
	in.StartStatus = status
	id := in.Message.ID
	attrs := []temporal.SearchAttributeUpdate{
		SearchAttrStatus.ValueSet(string(status)),
		SearchAttrTopic.ValueSet(in.Message.Topic),
	}
	if in.Message.Producer != "" {
		attrs = append(attrs, SearchAttrProducer.ValueSet(in.Message.Producer))
	}
	_, err := c.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       WorkflowID(id),
		TaskQueue:                                c.taskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    temporal.NewSearchAttributes(attrs...),
		StaticSummary:                            staticSummary(in.Message),
		StaticDetails:                            staticDetails(in),
		Memo: map[string]any{
			memoFingerprint: fingerprint,
			memoDecision:    decisionMemo{Consumers: append([]string{}, in.Message.Consumers...)},
		},
	}, WorkflowType, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return c.startAgain(ctx, id, fingerprint)
	}
	if err != nil {
		return Started{}, temporalFailure("start message "+id, err)
	}
	return Started{Status: status, Created: true}, nil
}

// startAgain answers a start of an id that already has a workflow.
func (c *Client) startAgain(ctx context.Context, id, fingerprint string) (Started, error) {
	d, err := c.describe(ctx, id)
	if err != nil {
		return Started{}, err
	}
	if d.fingerprint != fingerprint {
		return Started{}, fmt.Errorf("message %q: %w", id, ErrIDConflict)
	}
	return Started{Status: d.status}, nil
}

// Request is one action asked of a message.
type Request struct {
	Action models.Action
	// By names who asks (for Confirm, Cancel and Redrive), shown in the
	// workflow's state.
	By string
	// Reason is the asker's reason, kept with the decision.
	Reason string
	// Operator marks an operator's action (operations.Service.Act sets
	// it): the workflow's LastError then says what the operator did.
	Operator bool
	// Consumer names the completing consumer (Complete only).
	Consumer string
}

// Answer is what an action did.
type Answer struct {
	// Status is the message's status after the decision: the one an applied
	// action moved it to when the workflow answered itself. Otherwise it is
	// the status as known, Previous: a repeated, rejected or accepted action
	// leaves the message where it was, and an action sent as a signal
	// (below) has not been run by the workflow yet.
	Status wire.Status
	// Previous is the status the action was decided on.
	Previous wire.Status
	// Disposition is the workflow's decision: wire.Applied, Repeated,
	// Rejected or Accepted (a complete held until the message is
	// published). Accepted is also the answer to an action the workflow
	// could not be asked about in time (no worker running it, Temporal
	// restarting): the action was sent as a signal, which is durable, and
	// the workflow decides it with models.Decide when it runs, recording
	// the outcome in its State.
	Disposition wire.Outcome
	// Reason explains an answer other than Applied.
	Reason string
}

// Ask asks the workflow of message id to act on req and returns its answer.
// Errors are for a message that does not exist (models.ErrNotFound) and for
// Temporal or the mirror failing (*UnavailableError when a retry may help);
// a rejected action is an Answer.
//
// The action goes as an update, which the running workflow decides and
// answers: one call. When no answer comes in time, the workflow's
// description (its status search attribute and consumers memo, which need no
// worker) decides: a closed workflow is decided exactly from its final
// status; an open one is sent the action as a signal, answered Applied when
// the description Applies it, else wire.Accepted, since the description
// may lag the workflow by the task in flight. A workflow past retention is
// decided from its mirror row.
func (c *Client) Ask(ctx context.Context, id string, req Request) (Answer, error) {
	if a, ok := c.update(ctx, id, req); ok {
		return a, nil
	}
	d, err := c.describe(ctx, id)
	if errors.Is(err, models.ErrNotFound) {
		return c.askRow(ctx, id, req)
	}
	if err != nil {
		return Answer{}, err
	}
	if d.closed {
		if !d.consumersKnown {
			return c.askRow(ctx, id, req)
		}
		return ended(decide(d.status, req, d.consumers, nil)), nil
	}
	a := decide(d.status, req, d.consumers, nil)
	// Who completed is not described: with named consumers a complete may be
	// a repeat the description cannot see.
	exact := d.consumersKnown && !(req.Action == models.Complete && len(d.consumers) > 0)
	if a.Disposition != wire.Applied || !exact {
		a = Answer{Status: d.status, Previous: d.status, Disposition: wire.Accepted, Reason: reasonUnanswered}
	}
	if err := c.signal(ctx, id, req); err != nil {
		if errors.Is(err, models.ErrNotFound) {
			// Closed between the description and the signal; its mirror
			// row was flushed before it closed.
			return c.askRow(ctx, id, req)
		}
		return Answer{}, err
	}
	return a, nil
}

// reasonUnanswered is the reason of an action accepted because its workflow
// could not be asked in time.
const reasonUnanswered = "its workflow did not answer in time: the request was sent, and the workflow decides it when it runs"

// askRow decides req for a message whose workflow has ended, from its final
// mirror row.
func (c *Client) askRow(ctx context.Context, id string, req Request) (Answer, error) {
	row, err := c.rows.Get(ctx, id)
	if errors.Is(err, models.ErrNotFound) {
		return Answer{}, fmt.Errorf("message %q: %w", id, models.ErrNotFound)
	}
	if err != nil {
		return Answer{}, &UnavailableError{Dependency: "the message mirror", Err: err}
	}
	return ended(decide(row.Status, req, row.Consumers, nil)), nil
}

// ended turns an action Applied or Accepted by the final status of a closed
// workflow into Rejected: nothing runs to apply it. (A workflow cancelled
// through Temporal closes in the status it had, which may be one that
// accepts a complete.)
func ended(a Answer) Answer {
	if a.Disposition == wire.Applied || a.Disposition == wire.Accepted {
		a.Disposition = wire.Rejected
		a.Reason = fmt.Sprintf("message is %s and its workflow has ended", a.Status)
	}
	return a
}

func decide(status wire.Status, req Request, consumers, completedBy []string) Answer {
	d, reason := models.Decide(status, req.Action, req.Consumer, consumers, completedBy)
	return Answer{Status: status, Previous: status, Disposition: d, Reason: reason}
}

// arg is the payload of req's signal or update.
func (req Request) arg() any {
	if req.Action == models.Complete {
		return Completion{Consumer: req.Consumer}
	}
	return Decision{By: req.By, Reason: req.Reason, Operator: req.Operator}
}

// update sends req as an update and returns the workflow's own answer:
// applied, or repeated or rejected by the update's validator. ok is false
// when there is no answer in time (no worker, a closed workflow, Temporal
// unavailable).
func (c *Client) update(ctx context.Context, id string, req Request) (Answer, bool) {
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	h, err := c.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   WorkflowID(id),
		UpdateName:   string(req.Action),
		Args:         []any{req.arg()},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		var ur UpdateResult
		if err = h.Get(ctx, &ur); err == nil {
			a := Answer{Status: ur.After, Previous: ur.Status, Disposition: wire.Applied}
			if ur.Outcome != "" {
				a.Disposition, a.Reason = ur.Outcome, ur.Reason
			}
			if a.Status == "" { // a worker of an older release answered
				a.Status = ur.Status
			}
			return a, true
		}
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && (appErr.Type() == UpdateRepeated || appErr.Type() == UpdateRejected) {
		a := Answer{Disposition: wire.Outcome(appErr.Type()), Reason: appErr.Message()}
		if appErr.HasDetails() && appErr.Details(&a.Previous) == nil {
			a.Status = a.Previous
			return a, true
		}
	}
	if !isNotFound(err) && !errors.Is(err, context.DeadlineExceeded) {
		c.logger.Debug("update not answered, deciding from the description", "id", id, "update", req.Action, "error", err)
	}
	return Answer{}, false
}

// signal sends req as a signal; models.ErrNotFound when the workflow has
// closed.
func (c *Client) signal(ctx context.Context, id string, req Request) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	err := c.temporal.SignalWorkflow(ctx, WorkflowID(id), "", string(req.Action), req.arg())
	if isNotFound(err) {
		return fmt.Errorf("message %q: %w", id, models.ErrNotFound)
	}
	if err != nil {
		return temporalFailure(fmt.Sprintf("signal %s to message %s", req.Action, id), err)
	}
	return nil
}

// State returns the workflow's State from its query: everything it knows,
// checks, publishes and signals included. It needs a worker to run the
// workflow and waits for one for a few seconds.
func (c *Client) State(ctx context.Context, id string) (State, error) {
	var st State
	err := c.query(ctx, id, &st)
	return st, err
}

// Story returns the workflow's whole answer to its query: its State, its
// status changes, its policy and what it does next. Errors are State's.
func (c *Client) Story(ctx context.Context, id string) (Story, error) {
	var s Story
	err := c.query(ctx, id, &s)
	return s, err
}

// query asks message id's workflow for QueryState into out.
func (c *Client) query(ctx context.Context, id string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	v, err := c.temporal.QueryWorkflow(ctx, WorkflowID(id), "", QueryState)
	if isNotFound(err) {
		return fmt.Errorf("message %q: %w", id, models.ErrNotFound)
	}
	if err != nil {
		return temporalFailure("query message "+id, err)
	}
	if err := v.Get(out); err != nil {
		return fmt.Errorf("decode the state of message %s: %w", id, err)
	}
	return nil
}

// Current is the workflow's view of a message, for callers that found no
// mirror row: its State when a worker answers the query (Live), else what
// its description holds: id, topic, status and start time.
func (c *Client) Current(ctx context.Context, id string) (st State, live bool, err error) {
	st, err = c.State(ctx, id)
	if err == nil || errors.Is(err, models.ErrNotFound) {
		return st, err == nil, err
	}
	c.logger.Warn("state query failed, answering from the workflow's description", "id", id, "error", err)
	d, err := c.describe(ctx, id)
	if err != nil {
		return State{}, false, err
	}
	return State{MessageID: id, Topic: d.topic, Status: d.status, CreatedAt: d.started}, false, nil
}

// Owner is who a message belongs to: fixed when it is prepared, so a
// decision taken on it cannot be outdated by the time it is acted on.
type Owner struct {
	// Producer is empty for a message prepared without a producer name.
	Producer  string
	Topic     string
	Consumers []string
}

// Owner returns who message id belongs to, from its workflow's description
// (no worker needed), or from its mirror row when the description cannot
// tell (a workflow past retention, or started before the producer search
// attribute).
func (c *Client) Owner(ctx context.Context, id string) (Owner, error) {
	d, err := c.describe(ctx, id)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return Owner{}, err
	}
	if err == nil && d.producer != "" && d.consumersKnown {
		return Owner{Producer: d.producer, Topic: d.topic, Consumers: d.consumers}, nil
	}
	row, rerr := c.rows.Get(ctx, id)
	switch {
	case rerr == nil:
		return Owner{Producer: row.Producer, Topic: row.Topic, Consumers: row.Consumers}, nil
	case !errors.Is(rerr, models.ErrNotFound):
		return Owner{}, &UnavailableError{Dependency: "the message mirror", Err: rerr}
	case err != nil:
		return Owner{}, err
	}
	// The mirror has not caught up with a just-started workflow, whose
	// description then has all there is.
	return Owner{Producer: d.producer, Topic: d.topic, Consumers: d.consumers}, nil
}

// CheckHealth reports whether the Temporal frontend answers.
func (c *Client) CheckHealth(ctx context.Context) error {
	_, err := c.temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

// described is what a workflow's description tells about its message.
type described struct {
	status wire.Status
	topic  string
	// producer is empty for a message that names none, and for workflows
	// started before the producer search attribute.
	producer string
	started  time.Time
	closed   bool
	// consumers are the named consumers from the memo; consumersKnown is
	// false for workflows started without that memo field.
	consumers      []string
	consumersKnown bool
	fingerprint    string
}

// describe reads the search attributes and memo of message id's workflow,
// which the client sets at start and the workflow updates at every
// transition. It needs no worker.
func (c *Client) describe(ctx context.Context, id string) (described, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := c.temporal.DescribeWorkflowExecution(ctx, WorkflowID(id), "")
	if isNotFound(err) {
		return described{}, fmt.Errorf("message %q: %w", id, models.ErrNotFound)
	}
	if err != nil {
		return described{}, temporalFailure("describe message "+id, err)
	}
	return describedFrom(id, resp)
}

func describedFrom(id string, resp *workflowservice.DescribeWorkflowExecutionResponse) (described, error) {
	info := resp.GetWorkflowExecutionInfo()
	fields := info.GetSearchAttributes().GetIndexedFields()
	memo := info.GetMemo().GetFields()
	dc := converter.GetDefaultDataConverter()
	var d described
	if p := fields[SearchAttrStatus.GetName()]; p == nil || dc.FromPayload(p, &d.status) != nil || !d.status.Valid() {
		return described{}, &UnavailableError{Dependency: "the state of message " + id,
			Err: errors.New("workflow has no readable status search attribute")}
	}
	if p := fields[SearchAttrTopic.GetName()]; p != nil {
		if err := dc.FromPayload(p, &d.topic); err != nil {
			return described{}, fmt.Errorf("read the topic of message %s: %w", id, err)
		}
	}
	if p := fields[SearchAttrProducer.GetName()]; p != nil {
		if err := dc.FromPayload(p, &d.producer); err != nil {
			return described{}, fmt.Errorf("read the producer of message %s: %w", id, err)
		}
	}
	d.started = info.GetStartTime().AsTime()
	d.closed = info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	var dm decisionMemo
	if p := memo[memoDecision]; p != nil && dc.FromPayload(p, &dm) == nil {
		d.consumers, d.consumersKnown = dm.Consumers, true
	} else if p := memo[memoConsumers]; p != nil {
		d.consumersKnown = dc.FromPayload(p, &d.consumers) == nil
	}
	if p := memo[memoFingerprint]; p != nil {
		if err := dc.FromPayload(p, &d.fingerprint); err != nil {
			return described{}, fmt.Errorf("read the fingerprint of message %s: %w", id, err)
		}
	}
	return d, nil
}
