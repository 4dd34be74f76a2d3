package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
)

// signalChannel is one of the four signals and its channel.
type signalChannel struct {
	name string
	ch   workflow.ReceiveChannel
}

// signalSelector returns a selector that handles any of the four signals, and
// wakes up when the workflow is cancelled.
func (r *messageRun) signalSelector(ctx workflow.Context) workflow.Selector {
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
	sel.AddReceive(r.wake, func(c workflow.ReceiveChannel, _ bool) { c.ReceiveAsync(nil) })
	for _, s := range r.signals {
		sel.AddReceive(s.ch, func(c workflow.ReceiveChannel, _ bool) {
			r.receive(ctx, s.name, c)
		})
	}
	return sel
}

// receive takes one signal off its channel and acts on it. A payload that does
// not decode is dropped by the SDK; nothing blocks on it.
func (r *messageRun) receive(ctx workflow.Context, name string, c workflow.ReceiveChannel) {
	var d contract.Decision
	var comp contract.Completion
	var ok bool
	if name == contract.SignalComplete {
		ok = c.ReceiveAsync(&comp)
	} else {
		ok = c.ReceiveAsync(&d)
	}
	if !ok {
		return
	}
	r.apply(ctx, name, d, comp)
}

// apply acts on one signal or update as decide says, records it, and
// returns what it did and why.
func (r *messageRun) apply(ctx workflow.Context, name string, d contract.Decision, comp contract.Completion) (wire.Outcome, string) {
	rec := contract.SignalRecord{Name: name, By: d.By, Consumer: comp.Consumer}
	outcome, reason := r.decide(models.Action(name), comp.Consumer)
	rec.Outcome, rec.Reason = outcome, reason
	switch outcome {
	case wire.Applied:
		rec.Reason = d.Reason
	case wire.Accepted:
		// Only a complete is accepted, and held.
		r.record(ctx, rec)
		r.st.EarlyCompletions = append(r.st.EarlyCompletions, contract.EarlyCompletion{Consumer: comp.Consumer, At: workflow.Now(ctx)})
		r.showDetails(ctx)
		return outcome, reason
	default:
		if d.Reason != "" {
			rec.Reason += " (" + d.Reason + ")"
		}
		r.record(ctx, rec)
		workflow.GetLogger(ctx).Info("signal ignored", "signal", name, "outcome", rec.Outcome, "reason", reason)
		return outcome, reason
	}
	r.record(ctx, rec)
	why := actionText(name, d, comp)
	if d.Operator {
		// The operator's action settles the error it answers: say what was
		// done instead, in this transition's mirror write and after.
		r.note = why
		r.st.LastError = why
	}
	switch name {
	case contract.SignalConfirm:
		r.transition(ctx, r.confirmed(ctx), why)
	case contract.SignalCancel:
		r.cancel(ctx, why)
	case contract.SignalComplete:
		r.complete(ctx, comp.Consumer, why)
	case contract.SignalRedrive:
		r.st.SendCount = 0
		r.clearError()
		r.startSend(ctx, why)
	}
	return outcome, ""
}

// decide is what action does in the current state: models.Decide, for this
// message's code version.
func (r *messageRun) decide(action models.Action, consumer string) (wire.Outcome, string) {
	outcome, reason := models.Decide(r.st.Status, action, consumer, r.msg.Consumers, r.completions())
	if outcome == wire.Accepted && !r.does.holdEarlyCompletion {
		return wire.Rejected, fmt.Sprintf("message is %s, it has not been sent", r.st.Status)
	}
	return outcome, reason
}

// completions are the consumers whose complete the message has, applied or
// held.
func (r *messageRun) completions() []string {
	if len(r.st.EarlyCompletions) == 0 {
		return r.st.CompletedBy
	}
	done := slices.Clone(r.st.CompletedBy)
	for _, e := range r.st.EarlyCompletions {
		done = append(done, e.Consumer)
	}
	return done
}

// record keeps a signal record for the query, bounded by MaxSignalRecords.
func (r *messageRun) record(ctx workflow.Context, rec contract.SignalRecord) {
	rec.At = workflow.Now(ctx)
	if len(r.st.Signals) >= contract.MaxSignalRecords {
		r.st.SignalsDropped++
		return
	}
	r.st.Signals = append(r.st.Signals, rec)
}

// setUpdateHandlers registers the update form of each signal (see
// UpdateResult). The validator decides with the same table as a signal, so an
// update is applied exactly when the signal would be. It is called once the
// message has its first status: the SDK hands an update that arrived earlier
// to its handler the moment the handler is registered.
func (r *messageRun) setUpdateHandlers(ctx workflow.Context) error {
	for _, name := range []string{contract.SignalConfirm, contract.SignalCancel, contract.SignalRedrive} {
		err := workflow.SetUpdateHandlerWithOptions(ctx, name,
			func(ctx workflow.Context, d contract.Decision) (contract.UpdateResult, error) {
				return r.update(ctx, name, d, contract.Completion{}), nil
			},
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, _ contract.Decision) error {
				return r.validate(name, "")
			}},
		)
		if err != nil {
			return fmt.Errorf("register %s update: %w", name, err)
		}
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, contract.SignalComplete,
		func(ctx workflow.Context, c contract.Completion) (contract.UpdateResult, error) {
			return r.update(ctx, contract.SignalComplete, contract.Decision{}, c), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, c contract.Completion) error {
			return r.validate(contract.SignalComplete, c.Consumer)
		}},
	)
	if err != nil {
		return fmt.Errorf("register %s update: %w", contract.SignalComplete, err)
	}
	return nil
}

// validate rejects an update that would be neither applied nor accepted.
func (r *messageRun) validate(name, consumer string) error {
	outcome, reason := r.decide(models.Action(name), consumer)
	if outcome != wire.Applied && outcome != wire.Accepted {
		return temporal.NewApplicationError(reason, string(outcome), r.st.Status)
	}
	return nil
}

// update applies a validated update and wakes the lifecycle loop, which may
// be waiting on a timer or an activity that the new status makes moot.
func (r *messageRun) update(ctx workflow.Context, name string, d contract.Decision, c contract.Completion) contract.UpdateResult {
	res := contract.UpdateResult{Status: r.st.Status}
	if outcome, reason := r.apply(ctx, name, d, c); outcome != wire.Applied {
		res.Outcome, res.Reason = outcome, reason
	}
	res.After = r.st.Status
	r.wake.SendAsync(struct{}{})
	return res
}

// waitForOperator parks the message (CHECK_EXHAUSTED or DEAD) until a signal
// moves it on. Nothing happens on its own.
func (r *messageRun) waitForOperator(ctx workflow.Context) {
	r.st.NextAt, r.st.Next = nil, ""
	status := r.st.Status
	sel := r.signalSelector(ctx)
	for r.st.Status == status && ctx.Err() == nil {
		sel.Select(ctx)
	}
}

// sleep waits for d while handling signals. It reports true when the time
// passed with the status unchanged, false when a signal changed the status.
func (r *messageRun) sleep(ctx workflow.Context, d time.Duration) bool {
	status := r.st.Status
	if d <= 0 {
		return true
	}
	next := workflow.Now(ctx).Add(d)
	r.st.NextAt, r.st.Next = &next, r.nextAction()
	r.showDetails(ctx)
	defer func() { r.st.NextAt, r.st.Next = nil, "" }()
	summary := r.waitSummary(next)
	done, err := r.awaitFuture(ctx, ctx, func(c workflow.Context) workflow.Future {
		return workflow.NewTimerWithOptions(c, d, workflow.TimerOptions{Summary: summary})
	}, nil)
	return done && err == nil && r.st.Status == status
}

// awaitFuture starts a timer or activity with start and waits for it while
// handling signals. done is false when a signal changed the status first; the
// timer or activity is then cancelled.
func (r *messageRun) awaitFuture(ctx, startCtx workflow.Context, start func(workflow.Context) workflow.Future, result any) (done bool, err error) {
	status := r.st.Status
	cctx, cancel := workflow.WithCancel(startCtx)
	defer cancel()
	f := start(cctx)
	sel := r.signalSelector(ctx)
	sel.AddFuture(f, func(f workflow.Future) {
		err = f.Get(ctx, result)
		done = true
	})
	for !done && r.st.Status == status && ctx.Err() == nil {
		sel.Select(ctx)
	}
	return done, err
}
