package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
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
	st     contract.State

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
	saStatus models.Status
	// lastMirror is the newest mirror write and mirrored the status it
	// writes.
	lastMirror workflow.Future
	mirrored   models.Status
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
		st: contract.State{
			MessageID: in.Message.ID,
			Topic:     in.Message.Topic,
			Consumers: in.Message.Consumers,
			CreatedAt: in.Message.CreatedAt,
			DeliverAt: in.Message.DeliverAt,
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

func (r *messageRun) run(ctx workflow.Context) (contract.Result, error) {
	if r.st.CreatedAt.IsZero() {
		r.st.CreatedAt = workflow.Now(ctx)
	}
	create := r.row()
	status := models.StatusWaitingConfirm
	if r.direct {
		status = r.confirmed(ctx)
	}
	r.transitionCreate(ctx, status, &create)
	if err := r.setUpdateHandlers(ctx); err != nil {
		return contract.Result{}, err
	}
	for !r.st.Status.Terminal() {
		if ctx.Err() != nil {
			return r.abandon(ctx)
		}
		switch r.st.Status {
		case models.StatusWaitingConfirm:
			r.waitForDecision(ctx)
		case models.StatusCheckExhausted, models.StatusDead:
			r.waitForOperator(ctx)
		case models.StatusScheduled:
			r.waitForDeliverAt(ctx)
		case models.StatusSending:
			r.publish(ctx)
		case models.StatusDelivered:
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
	r.st.NextAt = nil
	r.st.LastError = "workflow cancelled through Temporal; Courier no longer manages this message"
	r.transition(dctx, r.st.Status)
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
	}
}

// waitForDecision waits for confirm or cancel; when neither comes in time it
// asks the producer, on the check-back schedule, until it has an answer or the
// allowed checks are used up.
func (r *messageRun) waitForDecision(ctx workflow.Context) {
	if !r.sleep(ctx, r.checkDelay(r.st.CheckCount+1)) {
		return
	}
	r.st.CheckCount++
	in := activities.CheckInput{
		MessageID: r.msg.ID,
		Topic:     r.msg.Topic,
		Key:       r.msg.Key,
		Producer:  r.msg.Producer,
		URL:       r.msg.CheckURL,
		Attempt:   r.st.CheckCount,
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: r.policy.CheckTimeout,
		// The check-back schedule is the retry policy: a failed call is an
		// unanswered check, and the next one comes at its scheduled time.
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
		Summary:     fmt.Sprintf("check-back %d of %d", in.Attempt, r.policy.CheckMaxAttempts),
	})
	var res activities.CheckResult
	err, done := r.awaitFuture(ctx, actx, func(c workflow.Context) workflow.Future {
		return workflow.ExecuteActivity(c, acts.CheckBack, in)
	}, &res)
	if !done {
		return // a signal decided while the producer was being asked
	}
	if err != nil {
		res = activities.CheckResult{Answer: models.CheckUnknown, Detail: err.Error()}
	}
	r.st.Checks = append(r.st.Checks, contract.CheckRecord{
		Attempt: in.Attempt, At: workflow.Now(ctx), Answer: res.Answer, Detail: res.Detail,
	})
	switch res.Answer {
	case models.CheckCommitted:
		r.record(ctx, contract.SignalRecord{Name: contract.SignalConfirm, By: "check-back", Outcome: models.Applied})
		r.confirm(ctx)
	case models.CheckRolledBack:
		r.record(ctx, contract.SignalRecord{Name: contract.SignalCancel, By: "check-back", Outcome: models.Applied})
		r.cancel(ctx)
	default:
		r.st.LastError = fmt.Sprintf("check-back %d: %s %s", in.Attempt, res.Answer, res.Detail)
		if r.st.CheckCount >= r.policy.CheckMaxAttempts {
			r.transition(ctx, models.StatusCheckExhausted)
		} else {
			r.transition(ctx, models.StatusWaitingConfirm)
		}
	}
}

// checkDelay is the wait before check-back number n (1-based): CheckDelay,
// multiplied by CheckBackoff per earlier check, capped at CheckMaxDelay.
func (r *messageRun) checkDelay(n int) time.Duration {
	d := float64(r.policy.CheckDelay)
	for i := 1; i < n && d < float64(r.policy.CheckMaxDelay); i++ {
		d *= r.policy.CheckBackoff
	}
	return min(time.Duration(d), r.policy.CheckMaxDelay)
}

// waitForOperator parks the message (CHECK_EXHAUSTED or DEAD) until a signal
// moves it on. Nothing happens on its own.
func (r *messageRun) waitForOperator(ctx workflow.Context) {
	r.st.NextAt = nil
	status := r.st.Status
	sel := r.signalSelector(ctx)
	for r.st.Status == status && ctx.Err() == nil {
		sel.Select(ctx)
	}
}

// waitForDeliverAt holds a confirmed message until its deliver_at time.
func (r *messageRun) waitForDeliverAt(ctx workflow.Context) {
	if r.sleep(ctx, r.msg.DeliverAt.Sub(workflow.Now(ctx))) {
		r.startSend(ctx)
	}
}

// publish sends the message to Kafka. Transient broker errors are retried by
// the activity's retry policy without limit; a permanent rejection makes the
// message DEAD with the reason.
func (r *messageRun) publish(ctx workflow.Context) {
	in := activities.PublishInput{
		MessageID: r.msg.ID,
		Topic:     r.msg.Topic,
		Key:       r.msg.Key,
		Payload:   r.msg.Payload,
		Headers:   r.msg.Headers,
		Producer:  r.msg.Producer,
		Attempt:   r.st.SendCount,
	}
	retry := &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        r.policy.PublishMaxInterval,
		MaximumAttempts:        0, // until the broker accepts it
		NonRetryableErrorTypes: []string{activities.ErrTypePublishRejected},
	}
	var res activities.PublishResult
	err, done := r.awaitFuture(ctx, ctx, func(c workflow.Context) workflow.Future {
		return r.execute(c, fmt.Sprintf("publish to %s, send %d", r.msg.Topic, in.Attempt), publishTimeout, retry, acts.Publish, in)
	}, &res)
	if !done {
		return // completed by its consumers while the publish was in flight
	}
	rec := contract.PublishRecord{Attempt: in.Attempt, At: workflow.Now(ctx), Partition: res.Partition, Offset: res.Offset}
	if err != nil {
		rec.Error = errorMessage(err)
		r.st.Publishes = append(r.st.Publishes, rec)
		if !rejected(err) {
			// The retry policy itself ended (a timeout or a cancelled
			// activity): not Kafka's verdict on the message, so try again.
			r.st.LastError = fmt.Sprintf("publish %d: %s", in.Attempt, rec.Error)
			r.sleep(ctx, r.policy.PublishMaxInterval)
			return
		}
		r.st.LastError = fmt.Sprintf("publish %d rejected: %s", in.Attempt, rec.Error)
		r.transition(ctx, models.StatusDead)
		return
	}
	r.st.Publishes = append(r.st.Publishes, rec)
	r.st.PublishedAt = &rec.At
	r.st.LastError = ""
	r.transition(ctx, models.StatusDelivered)
	r.completeEarly(ctx)
}

// publishTimeout bounds one publish attempt; sarama's own retries fit inside.
const publishTimeout = 30 * time.Second

// awaitCompletion waits for the consumers' complete signals after a send. When
// the wait for this send passes, the message is sent again, or after the last
// interval it is DEAD.
func (r *messageRun) awaitCompletion(ctx workflow.Context) {
	intervals := r.policy.ResendIntervals
	i := min(max(r.st.SendCount, 1), len(intervals)) - 1
	if !r.sleep(ctx, intervals[i]) {
		return
	}
	if r.st.SendCount < len(intervals) {
		r.startSend(ctx)
		return
	}
	r.st.LastError = fmt.Sprintf("not completed after %d sends", r.st.SendCount)
	if missing := r.missingConsumers(); len(missing) > 0 {
		r.st.LastError += fmt.Sprintf("; waiting for %v", missing)
	}
	r.transition(ctx, models.StatusDead)
}

// missingConsumers are the named consumers that have not completed yet.
func (r *messageRun) missingConsumers() []string {
	var missing []string
	for _, c := range r.msg.Consumers {
		if !slices.Contains(r.st.CompletedBy, c) {
			missing = append(missing, c)
		}
	}
	return missing
}

// confirm moves a decided message to sending, or holds it until deliver_at.
func (r *messageRun) confirm(ctx workflow.Context) {
	r.transition(ctx, r.confirmed(ctx))
}

// confirmed records the confirmation and returns the status it leads to.
func (r *messageRun) confirmed(ctx workflow.Context) models.Status {
	now := workflow.Now(ctx)
	r.st.ConfirmedAt = &now
	r.st.LastError = ""
	status := contract.ConfirmedStatus(r.msg.DeliverAt, now)
	if status == models.StatusSending {
		r.st.SendCount++
	}
	return status
}

// startSend counts a new send and enters SENDING; publish does the send.
func (r *messageRun) startSend(ctx workflow.Context) {
	r.st.SendCount++
	r.transition(ctx, models.StatusSending)
}

// state answers QueryState with a copy that later changes cannot touch.
func (r *messageRun) state() (contract.State, error) {
	s := r.st
	s.EarlyCompletions = slices.Clone(s.EarlyCompletions)
	s.Checks = slices.Clone(s.Checks)
	s.Publishes = slices.Clone(s.Publishes)
	s.Signals = slices.Clone(s.Signals)
	s.CompletedBy = slices.Clone(s.CompletedBy)
	return s, nil
}

// rejected reports whether a publish failed because Kafka refused the message
// for good, as classified by the publish activity.
func rejected(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == activities.ErrTypePublishRejected
}

// errorMessage is the operator-facing text of an activity failure: the
// application error's own message rather than the SDK's wrapping.
func errorMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Error()
	}
	return err.Error()
}
