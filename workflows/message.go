package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/activities"
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
func MessageWorkflow(ctx workflow.Context, in Input) (Result, error) {
	r, err := newMessageRun(ctx, in)
	if err != nil {
		return Result{}, err
	}
	return r.run(ctx)
}

// messageRun is the state of one MessageWorkflow. Each lifecycle state has one
// method that returns when the status has changed.
type messageRun struct {
	msg    Message
	policy Policy
	st     State

	// direct is the direct-send path: the message starts confirmed.
	direct bool
	// pinned is the workflow code version from the input; zero (not
	// workflow.DefaultVersion) when the starter did not pin one (see
	// Input.Version).
	pinned workflow.Version
	// local is true for workflows started since VersionLocalActivities:
	// mirror writes and publishes are first tried as local activities.
	local bool
	// ordered is true for workflows started since VersionOrderedMirror.
	ordered bool
	signals []signalChannel
	// wake is sent to when an update changed the status, so that the
	// lifecycle loop stops waiting for what the old status waited for.
	wake     workflow.Channel
	mirror   []workflow.Future // mirror writes not known to be finished
	saStatus models.Status     // the CourierStatus value last upserted
	// lastMirror is the newest mirror write and mirrored the status it
	// writes (VersionOrderedMirror).
	lastMirror workflow.Future
	mirrored   models.Status
}

// signalChannel is one of the four signals with its payload decoder.
type signalChannel struct {
	name string
	ch   workflow.ReceiveChannel
}

func newMessageRun(ctx workflow.Context, in Input) (*messageRun, error) {
	if in.Message.ID == "" || in.Message.Topic == "" {
		return nil, temporal.NewNonRetryableApplicationError("message id and topic are required", "InvalidInput", nil)
	}
	if err := in.Policy.Validate(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("invalid policy: %v", err), "InvalidInput", err)
	}
	r := &messageRun{
		msg:    in.Message,
		policy: in.Policy,
		direct: in.Confirmed,
		pinned: in.Version,
		st: State{
			MessageID: in.Message.ID,
			Topic:     in.Message.Topic,
			Consumers: in.Message.Consumers,
			CreatedAt: in.Message.CreatedAt,
			DeliverAt: in.Message.DeliverAt,
		},
	}
	// The client may start the workflow with its search attributes already set;
	// upserting the same value again would only lengthen the history.
	if v, ok := workflow.GetTypedSearchAttributes(ctx).GetKeyword(SearchAttrStatus); ok {
		r.saStatus = models.Status(v)
	}
	for _, name := range []string{SignalConfirm, SignalCancel, SignalComplete, SignalRedrive} {
		r.signals = append(r.signals, signalChannel{name: name, ch: workflow.GetSignalChannel(ctx, name)})
	}
	if err := workflow.SetQueryHandler(ctx, QueryState, r.state); err != nil {
		return nil, fmt.Errorf("register %s query: %w", QueryState, err)
	}
	r.wake = workflow.NewBufferedChannel(ctx, 1)
	return r, nil
}

// setUpdateHandlers registers the update form of each signal (see
// UpdateResult). The validator decides with the same table as a signal, so an
// update is applied exactly when the signal would be. It is called once the
// message has its first status: the SDK hands an update that arrived earlier
// to its handler the moment the handler is registered.
func (r *messageRun) setUpdateHandlers(ctx workflow.Context) error {
	for _, name := range []string{SignalConfirm, SignalCancel, SignalRedrive} {
		err := workflow.SetUpdateHandlerWithOptions(ctx, name,
			func(ctx workflow.Context, d Decision) (UpdateResult, error) {
				return r.update(ctx, name, d, Completion{}), nil
			},
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, _ Decision) error {
				return r.validate(name, "")
			}},
		)
		if err != nil {
			return fmt.Errorf("register %s update: %w", name, err)
		}
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, SignalComplete,
		func(ctx workflow.Context, c Completion) (UpdateResult, error) {
			return r.update(ctx, SignalComplete, Decision{}, c), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, c Completion) error {
			return r.validate(SignalComplete, c.Consumer)
		}},
	)
	if err != nil {
		return fmt.Errorf("register %s update: %w", SignalComplete, err)
	}
	return nil
}

// validate rejects an update that would not be applied.
func (r *messageRun) validate(name, consumer string) error {
	outcome, reason := models.Decide(r.st.Status, models.Action(name), consumer, r.msg.Consumers, r.st.CompletedBy)
	if outcome != models.Applied {
		return temporal.NewApplicationError(reason, string(outcome), r.st.Status)
	}
	return nil
}

// update applies a validated update and wakes the lifecycle loop, which may
// be waiting on a timer or an activity that the new status makes moot.
func (r *messageRun) update(ctx workflow.Context, name string, d Decision, c Completion) UpdateResult {
	res := UpdateResult{Status: r.st.Status}
	r.apply(ctx, name, d, c)
	r.wake.SendAsync(struct{}{})
	return res
}

func (r *messageRun) run(ctx workflow.Context) (Result, error) {
	version := r.version(ctx)
	r.local = version >= VersionLocalActivities
	r.ordered = version >= VersionOrderedMirror
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
		return Result{}, err
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
			return Result{}, fmt.Errorf("message %s in unknown status %q", r.msg.ID, r.st.Status)
		}
	}
	if err := r.flushMirror(ctx); err != nil {
		return Result{}, err
	}
	return r.result(), nil
}

// version is the workflow code version this message runs: the one pinned in
// its input, or for inputs without one, what GetVersion recorded.
func (r *messageRun) version(ctx workflow.Context) workflow.Version {
	if r.pinned == 0 {
		return workflow.GetVersion(ctx, ChangeLocalActivities, workflow.DefaultVersion, VersionLocalActivities)
	}
	if r.pinned > CurrentVersion {
		// Started by a newer Courier. Like GetVersion with a version it does
		// not know, fail the workflow task; the server retries it until a
		// worker that knows the version takes it.
		panic(fmt.Sprintf("message %s was started with workflow version %d; this worker runs versions up to %d",
			r.msg.ID, r.pinned, CurrentVersion))
	}
	return r.pinned
}

// abandon ends a workflow cancelled through Temporal (not Courier's cancel
// signal): the message is no longer managed, and its mirror row says so.
func (r *messageRun) abandon(ctx workflow.Context) (Result, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	r.st.NextAt = nil
	r.st.LastError = "workflow cancelled through Temporal; Courier no longer manages this message"
	r.transition(dctx, r.st.Status)
	if err := r.flushMirror(dctx); err != nil {
		return Result{}, err
	}
	return r.result(), temporal.NewCanceledError(string(r.st.Status))
}

// flushMirror waits for every mirror write: the row must show the final state
// before the workflow closes, because activities of a closed workflow are
// never retried.
func (r *messageRun) flushMirror(ctx workflow.Context) error {
	for _, f := range r.mirror {
		if err := f.Get(ctx, nil); err != nil {
			return fmt.Errorf("mirror write for %s: %w", r.msg.ID, err)
		}
	}
	r.mirror = nil
	return nil
}

func (r *messageRun) result() Result {
	return Result{
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
	})
	var res activities.CheckResult
	err, done := r.awaitFuture(ctx, actx, func(c workflow.Context) workflow.Future {
		return workflow.ExecuteActivity(c, acts.CheckBack, in)
	}, &res)
	if !done {
		return // a signal decided while the producer was being asked
	}
	if err != nil {
		res = activities.CheckResult{Answer: activities.CheckUnknown, Detail: err.Error()}
	}
	r.st.Checks = append(r.st.Checks, CheckRecord{
		Attempt: in.Attempt, At: workflow.Now(ctx), Answer: res.Answer, Detail: res.Detail,
	})
	switch res.Answer {
	case activities.CheckCommitted:
		r.record(ctx, SignalRecord{Name: SignalConfirm, By: "check-back", Outcome: models.Applied})
		r.confirm(ctx)
	case activities.CheckRolledBack:
		r.record(ctx, SignalRecord{Name: SignalCancel, By: "check-back", Outcome: models.Applied})
		r.transition(ctx, models.StatusCancelled)
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
		return r.execute(c, publishTimeout, retry, acts.Publish, in)
	}, &res)
	if !done {
		return // completed by its consumers while the publish was in flight
	}
	rec := PublishRecord{Attempt: in.Attempt, At: workflow.Now(ctx), Partition: res.Partition, Offset: res.Offset}
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
	if r.msg.DeliverAt != nil && r.msg.DeliverAt.After(now) {
		return models.StatusScheduled
	}
	r.st.SendCount++
	return models.StatusSending
}

// startSend counts a new send and enters SENDING; publish does the send.
func (r *messageRun) startSend(ctx workflow.Context) {
	r.st.SendCount++
	r.transition(ctx, models.StatusSending)
}

// sleep waits for d while handling signals. It reports true when the time
// passed with the status unchanged, false when a signal changed the status.
func (r *messageRun) sleep(ctx workflow.Context, d time.Duration) bool {
	status := r.st.Status
	if d <= 0 {
		return true
	}
	next := workflow.Now(ctx).Add(d)
	r.st.NextAt = &next
	defer func() { r.st.NextAt = nil }()
	err, done := r.awaitFuture(ctx, ctx, func(c workflow.Context) workflow.Future {
		return workflow.NewTimer(c, d)
	}, nil)
	return done && err == nil && r.st.Status == status
}

// awaitFuture starts a timer or activity with start and waits for it while
// handling signals. done is false when a signal changed the status first; the
// timer or activity is then cancelled.
func (r *messageRun) awaitFuture(ctx, startCtx workflow.Context, start func(workflow.Context) workflow.Future, result any) (err error, done bool) {
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
	return err, done
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
	var d Decision
	var comp Completion
	var ok bool
	if name == SignalComplete {
		ok = c.ReceiveAsync(&comp)
	} else {
		ok = c.ReceiveAsync(&d)
	}
	if !ok {
		return
	}
	r.apply(ctx, name, d, comp)
}

// apply acts on one signal or update as Decide says, and records it.
func (r *messageRun) apply(ctx workflow.Context, name string, d Decision, comp Completion) {
	rec := SignalRecord{Name: name, By: d.By, Consumer: comp.Consumer}
	var reason string
	rec.Outcome, reason = models.Decide(r.st.Status, models.Action(name), comp.Consumer, r.msg.Consumers, r.st.CompletedBy)
	rec.Reason = reason
	if rec.Outcome != models.Applied {
		if d.Reason != "" {
			rec.Reason += " (" + d.Reason + ")"
		}
		r.record(ctx, rec)
		workflow.GetLogger(ctx).Info("signal ignored", "signal", name, "outcome", rec.Outcome, "reason", reason)
		return
	}
	rec.Reason = d.Reason
	r.record(ctx, rec)
	switch name {
	case SignalConfirm:
		r.confirm(ctx)
	case SignalCancel:
		r.transition(ctx, models.StatusCancelled)
	case SignalComplete:
		r.complete(ctx, comp.Consumer)
	case SignalRedrive:
		r.st.SendCount = 0
		r.st.LastError = ""
		r.startSend(ctx)
	}
}

// complete records a consumer's completion; the message is COMPLETED when
// every named consumer (or, with none named, anyone) has completed.
func (r *messageRun) complete(ctx workflow.Context, consumer string) {
	if len(r.msg.Consumers) > 0 {
		r.st.CompletedBy = append(r.st.CompletedBy, consumer)
		if len(r.missingConsumers()) > 0 {
			return
		}
	} else if consumer != "" {
		r.st.CompletedBy = append(r.st.CompletedBy, consumer)
	}
	now := workflow.Now(ctx)
	r.st.CompletedAt = &now
	if r.st.PublishedAt == nil {
		// Completed while the publish's answer was still on its way: the
		// consumer had the message, so it was published by now at the latest.
		r.st.PublishedAt = &now
	}
	r.st.LastError = ""
	r.transition(ctx, models.StatusCompleted)
}

// record keeps a signal record for the query, bounded by MaxSignalRecords.
func (r *messageRun) record(ctx workflow.Context, rec SignalRecord) {
	rec.At = workflow.Now(ctx)
	if len(r.st.Signals) >= MaxSignalRecords {
		r.st.SignalsDropped++
		return
	}
	r.st.Signals = append(r.st.Signals, rec)
}

// transition enters status: a new revision, the search attributes and a
// mirror write. The mirror write is not waited for; revisions keep the row
// from moving backwards when writes land out of order.
func (r *messageRun) transition(ctx workflow.Context, status models.Status) {
	r.transitionCreate(ctx, status, nil)
}

func (r *messageRun) transitionCreate(ctx workflow.Context, status models.Status, create *models.Message) {
	r.st.Status = status
	r.st.Revision++
	// SENDING normally lasts only as long as the local publish, inside this
	// workflow task, and DELIVERED follows: upserting it would cost a history
	// event and a visibility write for a status nobody can see, and since
	// VersionOrderedMirror writing it to the mirror a database write and a
	// history event. Both catch up when the publish outlasts the local try
	// (see execute).
	passing := status == models.StatusSending && r.local
	if !passing {
		r.upsertStatus(ctx)
	}
	if create != nil {
		create.Status = status
	}
	if passing && r.ordered && create == nil {
		return
	}
	r.writeMirror(ctx, create)
}

// writeMirror writes the current state to the mirror (with create, the row
// itself). The write is not waited for. Since VersionOrderedMirror it starts
// when the message's previous write has finished: a transition never races
// the creation of its row, and writes of one row do not contend.
func (r *messageRun) writeMirror(ctx workflow.Context, create *models.Message) {
	in := activities.MirrorInput{Create: create, Transition: r.transitionRow(ctx)}
	retry := &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
		MaximumAttempts:    0, // the database comes back; the row must follow
	}
	r.pruneMirror()
	r.mirrored = r.st.Status
	prev := r.lastMirror
	if !r.ordered || prev == nil || prev.IsReady() {
		r.lastMirror = r.execute(ctx, mirrorTimeout, retry, acts.WriteMirror, in)
	} else {
		f, set := workflow.NewFuture(ctx)
		workflow.Go(ctx, func(gctx workflow.Context) {
			_ = prev.Get(gctx, nil) // its error is flushMirror's to report
			set.Chain(r.execute(gctx, mirrorTimeout, retry, acts.WriteMirror, in))
		})
		r.lastMirror = f
	}
	r.mirror = append(r.mirror, r.lastMirror)
}

// upsertStatus sets the CourierStatus search attribute to the current status
// when it differs.
func (r *messageRun) upsertStatus(ctx workflow.Context) {
	if r.st.Status == r.saStatus {
		return
	}
	err := workflow.UpsertTypedSearchAttributes(ctx,
		SearchAttrStatus.ValueSet(string(r.st.Status)),
		SearchAttrTopic.ValueSet(r.msg.Topic),
	)
	if err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes", "error", err)
		return
	}
	r.saStatus = r.st.Status
}

// execute runs one mirror write or publish. In workflows started since
// VersionLocalActivities it is first tried as a local activity, for up to
// localWindow, and handed to a regular activity only if that fails; older
// workflows use a regular activity from the start.
//
// A local activity runs on the worker that holds the workflow and is recorded
// as one marker event in the workflow task that asked for it. A regular one
// costs three events and a workflow task of its own when it ends, which is
// where most of a message's history and latency went. But a local activity
// holds its workflow task open while it retries, so signals wait, and each
// retry past the task's timeout adds a timer and a task to the history. So
// the local try is short, and an outage of the database or the broker is
// waited out by a regular activity, whose retries the server keeps out of
// the history, however long they go on.
func (r *messageRun) execute(ctx workflow.Context, timeout time.Duration, retry *temporal.RetryPolicy, activity any, in any) workflow.Future {
	regular := func(ctx workflow.Context) workflow.Future {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: timeout,
			RetryPolicy:         retry,
		})
		return workflow.ExecuteActivity(actx, activity, in)
	}
	if !r.local {
		return regular(ctx)
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: localWindow,
		StartToCloseTimeout:    min(timeout, localWindow),
		RetryPolicy:            retry,
	})
	local := workflow.ExecuteLocalActivity(lctx, activity, in)
	f, set := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(gctx workflow.Context) {
		err := local.Get(gctx, nil)
		if err == nil || gctx.Err() != nil || !retryable(err, retry) {
			set.Chain(local)
			return
		}
		workflow.GetLogger(gctx).Warn("local activity failed, continuing as a regular activity", "error", err)
		// A SENDING that now lasts (see transitionCreate).
		r.upsertStatus(gctx)
		if r.ordered && r.mirrored != r.st.Status {
			r.writeMirror(gctx, nil)
		}
		set.Chain(regular(gctx))
	})
	return f
}

// mirrorTimeout bounds one mirror write attempt.
const mirrorTimeout = 30 * time.Second

// localWindow bounds the local try of a mirror write or publish, retries
// included; with the retry policies' first backoff of a second that is two
// attempts at most. The workflow task waits for its local activities, and with it
// the answer to an update (a confirm waits for its publish), so a broker or
// database outage may hold the task only briefly: the gateway waits 3 s for
// an update's answer.
const localWindow = time.Second

// retryable reports whether a failed activity may succeed when tried again
// under retry: not when it was cancelled or failed for good.
func retryable(err error, retry *temporal.RetryPolicy) bool {
	if temporal.IsCanceledError(err) {
		return false
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && (appErr.NonRetryable() || slices.Contains(retry.NonRetryableErrorTypes, appErr.Type())) {
		return false
	}
	return true
}

// pruneMirror forgets mirror writes that have finished.
func (r *messageRun) pruneMirror() {
	r.mirror = slices.DeleteFunc(r.mirror, func(f workflow.Future) bool { return f.IsReady() })
}

// transitionRow is the mirror update for the current state.
func (r *messageRun) transitionRow(ctx workflow.Context) models.Transition {
	return models.Transition{
		ID:          r.msg.ID,
		Revision:    r.mirrorRevision(ctx),
		Status:      r.st.Status,
		CheckCount:  r.st.CheckCount,
		SendCount:   r.st.SendCount,
		LastError:   r.st.LastError,
		ConfirmedAt: r.st.ConfirmedAt,
		PublishedAt: r.st.PublishedAt,
		CompletedAt: r.st.CompletedAt,
		UpdatedAt:   workflow.Now(ctx),
	}
}

// mirrorRevision orders the mirror writes of this workflow.
//
// A local activity writes before its workflow task is committed. When the
// task is lost (its worker killed), the task that replaces it starts from
// the last committed state with what has arrived since, and its transitions
// can differ from the lost ones under the same counter: the lost task may
// have written DELIVERED as revision 3 where the committed one has COMPLETED.
// So in workflows with local activities the revision leads with the history
// length at the start of the workflow task, which is larger in any task that
// replaces a lost one, and the transition counter orders writes within it.
// The history stays far below 2^20 events, the counter below 2^20.
func (r *messageRun) mirrorRevision(ctx workflow.Context) int64 {
	if !r.local {
		return r.st.Revision
	}
	return int64(workflow.GetInfo(ctx).GetCurrentHistoryLength())<<20 + r.st.Revision
}

// row is the full mirror row written when the message is first seen.
func (r *messageRun) row() models.Message {
	return models.Message{
		ID:        r.msg.ID,
		Topic:     r.msg.Topic,
		Key:       r.msg.Key,
		Payload:   r.msg.Payload,
		Headers:   r.msg.Headers,
		Producer:  r.msg.Producer,
		CheckURL:  r.msg.CheckURL,
		Consumers: r.msg.Consumers,
		DeliverAt: r.msg.DeliverAt,
		CreatedAt: r.st.CreatedAt,
		UpdatedAt: r.st.CreatedAt,
	}
}

// state answers QueryState with a copy that later changes cannot touch.
func (r *messageRun) state() (State, error) {
	s := r.st
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
