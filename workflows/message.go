package workflows

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/tracing"
)

// acts is how the workflow names its activities: methods of a nil *Activities,
// resolved by name against the worker's registered instance.
var acts *activities.Activities

// MessageWorkflow carries one message through its lifecycle: it waits for the
// producer's decision (asking back when none comes), publishes the confirmed
// message to Kafka, and re-publishes on the resend schedule until the
// consumers complete it. It returns only in COMPLETED or CANCELLED; every other
// stop is a parked state an operator can see and act on.
func MessageWorkflow(ctx workflow.Context, in contract.Input) (contract.Result, error) {
	r, err := newMessageRun(ctx, in)
	if err != nil {
		return contract.Result{}, err
	}
	return r.run(ctx)
}

// messageRun is the state of one MessageWorkflow. Each lifecycle state has one
// method that returns when the status has changed.
type messageRun struct {
	msg    contract.Message
	policy contract.Policy
	st     contract.Story

	// direct is the direct-send path: the message starts confirmed.
	direct bool
	// does is what this message's code version does differently (see
	// versions.go).
	does    behaviour
	signals []signalChannel
	// wake is sent to when an update changed the status, so that the
	// lifecycle loop stops waiting for what the old status waited for.
	wake   workflow.Channel
	mirror []workflow.Future // mirror writes not known to be finished
	// saStatus is the CourierStatus value last upserted, at first the one
	// the starter set (Input.StartStatus), which is not upserted again. It
	// comes from the input, not the start event's search attributes: a
	// Temporal node whose namespace cache lags shows those without
	// Courier's, and a history must upsert the same on every replay.
	saStatus wire.Status
	// lastMirror is the newest mirror write and mirrored the status it
	// writes.
	lastMirror workflow.Future
	mirrored   wire.Status
	// note is what the last operator action did (actionText), which
	// LastError shows until a new error replaces it (see fail).
	note string
	// trace is the message's stored trace context (Input.Trace), and phase
	// the span of the status it is in (see tracePhase).
	trace tracing.Carrier
	phase tracing.Phase
}

func newMessageRun(ctx workflow.Context, in contract.Input) (*messageRun, error) {
	does := behaviourOf(in)
	if in.Message.ID == "" || in.Message.Topic == "" {
		return nil, temporal.NewNonRetryableApplicationError("message id and topic are required", "InvalidInput", nil)
	}
	if err := in.Policy.Validate(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("invalid policy: %v", err), "InvalidInput", err)
	}
	r := &messageRun{
		msg:      in.Message,
		policy:   in.Policy,
		direct:   in.Confirmed,
		does:     does,
		saStatus: in.StartStatus,
		trace:    in.Trace,
		st: contract.Story{
			State: contract.State{
				MessageID: in.Message.ID,
				Topic:     in.Message.Topic,
				TraceID:   in.Trace.TraceID(),
				Consumers: in.Message.Consumers,
				CreatedAt: in.Message.CreatedAt,
				DeliverAt: in.Message.DeliverAt,
			},
			Policy: in.Policy,
		},
	}
	for _, name := range []string{contract.SignalConfirm, contract.SignalCancel, contract.SignalComplete, contract.SignalRedrive} {
		r.signals = append(r.signals, signalChannel{name: name, ch: workflow.GetSignalChannel(ctx, name)})
	}
	if err := workflow.SetQueryHandler(ctx, contract.QueryState, r.state); err != nil {
		return nil, fmt.Errorf("register %s query: %w", contract.QueryState, err)
	}
	r.wake = workflow.NewBufferedChannel(ctx, 1)
	return r, nil
}

// run is the lifecycle loop. Each state's method lives with its concern:
// waitForDecision in checkback.go, waitForOperator in signals.go,
// waitForDeliverAt and publish in publish.go, awaitCompletion in
// completion.go. While any of them waits (sleep, awaitFuture, in
// signals.go), signals and updates are applied there; every status change
// is a transition (mirror.go), which writes what the world sees of it: the
// mirror row, the search attribute and the Web UI's details.
func (r *messageRun) run(ctx workflow.Context) (contract.Result, error) {
	if r.st.CreatedAt.IsZero() {
		r.st.CreatedAt = workflow.Now(ctx)
	}
	status, why := wire.StatusWaitingConfirm, "prepared"
	if r.direct {
		status, why = r.confirmed(ctx), "sent directly"
	}
	r.transition(ctx, status, why)
	if err := r.setUpdateHandlers(ctx); err != nil {
		return contract.Result{}, err
	}
	for !r.st.Status.Terminal() {
		if ctx.Err() != nil {
			return r.abandon(ctx)
		}
		switch r.st.Status {
		case wire.StatusWaitingConfirm:
			r.waitForDecision(ctx)
		case wire.StatusCheckExhausted, wire.StatusDead:
			r.waitForOperator(ctx)
		case wire.StatusScheduled:
			r.waitForDeliverAt(ctx)
		case wire.StatusSending:
			r.publish(ctx)
		case wire.StatusDelivered:
			r.awaitCompletion(ctx)
		default:
			return contract.Result{}, fmt.Errorf("message %s in unknown status %q", r.msg.ID, r.st.Status)
		}
	}
	if err := r.flushMirror(ctx); err != nil {
		return contract.Result{}, err
	}
	return r.result(), nil
}

// abandon ends a workflow cancelled through Temporal (not Courier's cancel
// signal): the message is no longer managed, and its mirror row says so.
func (r *messageRun) abandon(ctx workflow.Context) (contract.Result, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	r.st.NextAt, r.st.Next = nil, ""
	r.fail("workflow cancelled through Temporal; Courier no longer manages this message")
	r.transition(dctx, r.st.Status, "")
	if err := r.flushMirror(dctx); err != nil {
		return contract.Result{}, err
	}
	return r.result(), temporal.NewCanceledError(string(r.st.Status))
}

func (r *messageRun) result() contract.Result {
	return contract.Result{
		Status:      r.st.Status,
		CheckCount:  r.st.CheckCount,
		SendCount:   r.st.SendCount,
		CompletedBy: r.st.CompletedBy,
		LastError:   r.st.LastError,
	}
}

// state answers QueryState with a copy that later changes cannot touch.
func (r *messageRun) state() (contract.Story, error) {
	s := r.st
	s.EarlyCompletions = slices.Clone(s.EarlyCompletions)
	s.Checks = slices.Clone(s.Checks)
	s.Publishes = slices.Clone(s.Publishes)
	s.Signals = slices.Clone(s.Signals)
	s.CompletedBy = slices.Clone(s.CompletedBy)
	s.Transitions = slices.Clone(s.Transitions)
	return s, nil
}
