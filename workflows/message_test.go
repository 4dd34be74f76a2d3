package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
)

// fakeActivities stands in for activities.Activities under the workflow test
// environment: it records every call and answers as the test scripts it.
type fakeActivities struct {
	mu        sync.Mutex
	checks    []activities.CheckInput
	checkAt   []time.Time
	publishes []activities.PublishInput
	publishAt []time.Time
	mirror    []activities.MirrorInput

	env *testsuite.TestWorkflowEnvironment
	// answer is the check-back answer for check number n (1-based).
	answer func(n int) (activities.CheckResult, error)
	// publishErr fails publish call number n (1-based, counting retries).
	publishErr func(n int) error
	// duringPublish runs inside publish call number n before it returns.
	duringPublish func(n int)
	// mirrorErr fails a mirror write attempted at now; failed attempts are
	// counted in mirrorFailures and not recorded in mirror.
	mirrorErr      func(now time.Time) error
	mirrorFailures int
	// mirrorDelay holds a mirror write for that long (real time) before it
	// is recorded; arrivals and maxInFlight show whether writes overlapped.
	mirrorDelay func(in activities.MirrorInput) time.Duration
	arrivals    []wire.Status
	inFlight    int
	maxInFlight int
}

func (f *fakeActivities) CheckBack(_ context.Context, in activities.CheckInput) (activities.CheckResult, error) {
	f.mu.Lock()
	f.checks = append(f.checks, in)
	f.checkAt = append(f.checkAt, f.env.Now().UTC())
	n := len(f.checks)
	f.mu.Unlock()
	if f.answer == nil {
		return activities.CheckResult{Answer: models.CheckUnknown, Detail: "no answer scripted"}, nil
	}
	return f.answer(n)
}

func (f *fakeActivities) Publish(_ context.Context, in activities.PublishInput) (activities.PublishResult, error) {
	f.mu.Lock()
	f.publishes = append(f.publishes, in)
	f.publishAt = append(f.publishAt, f.env.Now().UTC())
	n := len(f.publishes)
	f.mu.Unlock()
	if f.duringPublish != nil {
		f.duringPublish(n)
	}
	if f.publishErr != nil {
		if err := f.publishErr(n); err != nil {
			return activities.PublishResult{}, err
		}
	}
	return activities.PublishResult{Partition: 1, Offset: int64(n)}, nil
}

func (f *fakeActivities) WriteMirror(_ context.Context, in activities.MirrorInput) error {
	f.mu.Lock()
	f.arrivals = append(f.arrivals, in.Transition.Status)
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.mu.Unlock()
	if f.mirrorDelay != nil {
		time.Sleep(f.mirrorDelay(in))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight--
	if f.mirrorErr != nil {
		if err := f.mirrorErr(f.env.Now().UTC()); err != nil {
			f.mirrorFailures++
			return err
		}
	}
	f.mirror = append(f.mirror, in)
	return nil
}

// brokerDownFor fails the first n publish calls as an unreachable broker does.
func brokerDownFor(n int) func(int) error {
	return func(call int) error {
		if call <= n {
			return errors.New("kafka: broker not available")
		}
		return nil
	}
}

// mirrorStatuses is the status of every mirror write, in revision order.
func (f *fakeActivities) mirrorStatuses() []wire.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	writes := slices.Clone(f.mirror)
	slices.SortFunc(writes, func(a, b activities.MirrorInput) int {
		return int(a.Transition.Revision - b.Transition.Revision)
	})
	var out []wire.Status
	for _, w := range writes {
		out = append(out, w.Transition.Status)
	}
	return out
}

func (f *fakeActivities) publishAttempts() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for _, p := range f.publishes {
		out = append(out, p.Attempt)
	}
	return out
}

type bundle struct {
	env   *testsuite.TestWorkflowEnvironment
	acts  *fakeActivities
	input contract.Input
}

// testPolicy is a short, distinct schedule so that timings are easy to assert.
func testPolicy() contract.Policy {
	return contract.Policy{
		CheckDelay:         10 * time.Second,
		CheckBackoff:       2,
		CheckMaxDelay:      60 * time.Second,
		CheckMaxAttempts:   5,
		CheckTimeout:       5 * time.Second,
		ResendIntervals:    []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute},
		PublishMaxInterval: 10 * time.Second,
	}
}

var testStart = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func setup(t *testing.T) *bundle {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(testStart)
	fake := &fakeActivities{env: env}
	env.RegisterWorkflowWithOptions(MessageWorkflow, workflow.RegisterOptions{Name: contract.WorkflowType})
	env.RegisterActivityWithOptions(fake.CheckBack, activity.RegisterOptions{Name: "CheckBack"})
	env.RegisterActivityWithOptions(fake.Publish, activity.RegisterOptions{Name: "Publish"})
	env.RegisterActivityWithOptions(fake.WriteMirror, activity.RegisterOptions{Name: "WriteMirror"})
	return &bundle{
		env:  env,
		acts: fake,
		input: contract.Input{
			Message: contract.Message{
				ID:       "order-42",
				Topic:    "orders",
				Key:      "customer-7",
				Payload:  []byte(`{"order":42}`),
				Headers:  map[string]string{"trace": "abc"},
				Producer: "orders-svc",
				CheckURL: "http://orders.local/check",
			},
			Policy:  testPolicy(),
			Version: contract.CurrentVersion,
		},
	}
}

// signalAt sends a signal d after the workflow starts.
func (b *bundle) signalAt(d time.Duration, name string, arg any) {
	b.env.RegisterDelayedCallback(func() { b.env.SignalWorkflow(name, arg) }, d)
}

func (b *bundle) run(t *testing.T) contract.Result {
	t.Helper()
	b.env.ExecuteWorkflow(contract.WorkflowType, b.input)
	require.True(t, b.env.IsWorkflowCompleted())
	require.NoError(t, b.env.GetWorkflowError())
	var res contract.Result
	require.NoError(t, b.env.GetWorkflowResult(&res))
	return res
}

// runUnfinished runs a workflow that parks (never returns) and answers its
// state after everything scheduled has happened.
func (b *bundle) runUnfinished(t *testing.T, until time.Duration) contract.State {
	t.Helper()
	var st contract.State
	b.env.RegisterDelayedCallback(func() {
		v, err := b.env.QueryWorkflow(contract.QueryState)
		require.NoError(t, err)
		require.NoError(t, v.Get(&st))
		b.env.CancelWorkflow()
	}, until)
	b.env.ExecuteWorkflow(contract.WorkflowType, b.input)
	require.True(t, b.env.IsWorkflowCompleted())
	return st
}

func TestConfirmPublishComplete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.signalAt(time.Second, contract.SignalConfirm, contract.Decision{By: "producer"})
	b.signalAt(30*time.Second, contract.SignalComplete, contract.Completion{Consumer: "accounting"})

	res := b.run(t)

	require.Equal(t, wire.StatusCompleted, res.Status)
	require.Equal(t, 1, res.SendCount)
	require.Equal(t, 0, res.CheckCount)
	require.Empty(t, b.acts.checks, "a confirmed message is never checked back")
	require.Len(t, b.acts.publishes, 1)
	p := b.acts.publishes[0]
	require.Equal(t, activities.PublishInput{
		MessageID: "order-42", Topic: "orders", Key: "customer-7",
		Payload: []byte(`{"order":42}`), Headers: map[string]string{"trace": "abc"}, Producer: "orders-svc", Attempt: 1,
	}, p)
	// SENDING passes within the local publish: it is not mirrored.
	require.Equal(t, []wire.Status{
		wire.StatusWaitingConfirm, wire.StatusDelivered, wire.StatusCompleted,
	}, b.acts.mirrorStatuses())
	first := b.acts.mirror[0]
	require.NotNil(t, first.Create, "the first mirror write creates the row")
	require.Equal(t, []byte(`{"order":42}`), first.Create.Payload)
	for _, w := range b.acts.mirror[1:] {
		require.Nil(t, w.Create, "later writes carry only the transition")
	}
}

// updateOutcome is what one update answered.
type updateOutcome struct {
	result   contract.UpdateResult
	rejected *temporal.ApplicationError
	err      error
}

// updateAt sends an update d after the workflow starts and records its
// answer in out.
func (b *bundle) updateAt(t *testing.T, d time.Duration, name string, arg any, out *updateOutcome) {
	b.env.RegisterDelayedCallback(func() {
		b.env.UpdateWorkflow(name, name+d.String(), &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) {
				if !errors.As(err, &out.rejected) {
					out.err = err
				}
			},
			OnComplete: func(v any, err error) {
				if err != nil {
					out.err = err
					return
				}
				out.result = v.(contract.UpdateResult)
			},
		}, arg)
	}, d)
}

func TestUpdatesAnswerWhatTheyDid(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var confirm, again, cancel, complete updateOutcome
	b.updateAt(t, time.Second, contract.SignalConfirm, contract.Decision{By: "producer"}, &confirm)
	b.updateAt(t, 2*time.Second, contract.SignalConfirm, contract.Decision{By: "producer"}, &again)
	b.updateAt(t, 3*time.Second, contract.SignalCancel, contract.Decision{By: "producer"}, &cancel)
	b.updateAt(t, 4*time.Second, contract.SignalComplete, contract.Completion{}, &complete)

	res := b.run(t)

	require.Equal(t, wire.StatusCompleted, res.Status)
	require.NoError(t, confirm.err)
	require.Nil(t, confirm.rejected)
	require.Equal(t, contract.UpdateResult{Status: wire.StatusWaitingConfirm, After: wire.StatusSending}, confirm.result,
		"the confirm answers the status it was decided on and the one it moved the message to")
	require.Equal(t, []time.Time{testStart.Add(time.Second)}, b.acts.publishAt, "published on the update, not at the check-back")

	require.NotNil(t, again.rejected, "a second confirm is rejected by the validator")
	require.Equal(t, contract.UpdateRepeated, again.rejected.Type())
	var status wire.Status
	require.NoError(t, again.rejected.Details(&status))
	require.Equal(t, wire.StatusDelivered, status)

	require.NotNil(t, cancel.rejected)
	require.Equal(t, contract.UpdateRejected, cancel.rejected.Type())
	require.Equal(t, "message is already confirmed", cancel.rejected.Message())

	require.NoError(t, complete.err)
	require.Equal(t, contract.UpdateResult{Status: wire.StatusDelivered, After: wire.StatusCompleted}, complete.result)
	require.Empty(t, b.acts.checks)
}

func TestUpdateInTheFirstTaskIsApplied(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var confirm updateOutcome
	b.updateAt(t, 0, contract.SignalConfirm, contract.Decision{By: "producer"}, &confirm)
	b.signalAt(time.Second, contract.SignalComplete, contract.Completion{})

	res := b.run(t)

	require.Equal(t, wire.StatusCompleted, res.Status)
	require.NoError(t, confirm.err)
	require.Nil(t, confirm.rejected, "an update that comes with the start is decided on the first status")
	require.Equal(t, contract.UpdateResult{Status: wire.StatusWaitingConfirm, After: wire.StatusSending}, confirm.result)
}

func TestUpdateEndsAWaitForActivity(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.Confirmed = true
	// The broker is away; a consumer that got the message anyway (an earlier
	// send's answer was lost) completes it while the publish still retries.
	b.acts.publishErr = func(int) error { return errors.New("kafka: broker not available") }
	var complete updateOutcome
	b.updateAt(t, 20*time.Second, contract.SignalComplete, contract.Completion{}, &complete)

	res := b.run(t)

	require.Equal(t, wire.StatusCompleted, res.Status)
	require.NoError(t, complete.err)
	require.Equal(t, contract.UpdateResult{Status: wire.StatusSending, After: wire.StatusCompleted}, complete.result)
	for _, at := range b.acts.publishAt {
		require.False(t, at.After(testStart.Add(20*time.Second)), "publish retried at %s, after the update completed the message", at)
	}
}

func TestCancelNeverPublishes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.signalAt(time.Second, contract.SignalCancel, contract.Decision{By: "producer", Reason: "payment failed"})
	b.signalAt(2*time.Second, contract.SignalConfirm, contract.Decision{By: "producer"})

	res := b.run(t)

	require.Equal(t, wire.StatusCancelled, res.Status)
	require.Empty(t, b.acts.publishes)
	require.Empty(t, b.acts.checks)
	require.Equal(t, []wire.Status{wire.StatusWaitingConfirm, wire.StatusCancelled}, b.acts.mirrorStatuses())
}

func TestCheckBackCommittedSends(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.acts.answer = func(n int) (activities.CheckResult, error) {
		if n < 3 {
			return activities.CheckResult{Answer: models.CheckUnknown, Detail: "HTTP 503"}, nil
		}
		return activities.CheckResult{Answer: models.CheckCommitted}, nil
	}
	b.acts.duringPublish = func(int) { b.env.SignalWorkflow(contract.SignalComplete, contract.Completion{}) }

	res := b.run(t)

	require.Equal(t, wire.StatusCompleted, res.Status)
	require.Equal(t, 3, res.CheckCount)
	require.Len(t, b.acts.publishes, 1)
	// 10 s, then doubling: checks at +10 s, +30 s, +70 s.
	require.Equal(t, []time.Time{
		testStart.Add(10 * time.Second), testStart.Add(30 * time.Second), testStart.Add(70 * time.Second),
	}, b.acts.checkAt)
	for i, c := range b.acts.checks {
		require.Equal(t, i+1, c.Attempt)
		require.Equal(t, "http://orders.local/check", c.URL)
		require.Equal(t, "order-42", c.MessageID)
	}
}

func TestCheckBackRolledBackCancels(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.acts.answer = func(int) (activities.CheckResult, error) {
		return activities.CheckResult{Answer: models.CheckRolledBack}, nil
	}
	res := b.run(t)
	require.Equal(t, wire.StatusCancelled, res.Status)
	require.Equal(t, 1, res.CheckCount)
	require.Empty(t, b.acts.publishes)
}

func TestCheckBackErrorIsAskAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.acts.answer = func(n int) (activities.CheckResult, error) {
		if n == 1 {
			return activities.CheckResult{}, errors.New("worker lost the call")
		}
		return activities.CheckResult{Answer: models.CheckRolledBack}, nil
	}
	res := b.run(t)
	require.Equal(t, wire.StatusCancelled, res.Status)
	require.Equal(t, 2, res.CheckCount)
}

func TestCheckBackExhaustedParksUntilOperator(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		signal string
		want   wire.Status
		sends  int
	}{
		{contract.SignalConfirm, wire.StatusCompleted, 1},
		{contract.SignalCancel, wire.StatusCancelled, 0},
	} {
		t.Run(tc.signal, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			// five checks: 10+20+40+60+60 s = 190 s; the operator acts a day later.
			b.signalAt(24*time.Hour, tc.signal, contract.Decision{By: "operator"})
			b.acts.duringPublish = func(int) { b.env.SignalWorkflow(contract.SignalComplete, contract.Completion{}) }
			var parked contract.State
			b.env.RegisterDelayedCallback(func() {
				v, err := b.env.QueryWorkflow(contract.QueryState)
				require.NoError(t, err)
				require.NoError(t, v.Get(&parked))
			}, 23*time.Hour)

			res := b.run(t)

			require.Equal(t, wire.StatusCheckExhausted, parked.Status)
			require.Equal(t, 5, parked.CheckCount)
			require.Len(t, parked.Checks, 5)
			require.Nil(t, parked.NextAt, "a parked message waits for nobody but the operator")
			require.Contains(t, parked.LastError, "UNKNOWN")
			require.Equal(t, tc.want, res.Status)
			require.Len(t, b.acts.publishes, tc.sends)
			require.Len(t, b.acts.checks, 5, "no check-back after the limit")
			require.Equal(t, testStart.Add(190*time.Second), b.acts.checkAt[4])
		})
	}
}

func TestTransientPublishErrorsRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.Confirmed = true
	b.acts.publishErr = brokerDownFor(3)
	b.acts.duringPublish = func(n int) {
		if n == 4 {
			b.env.SignalWorkflow(contract.SignalComplete, contract.Completion{})
		}
	}
	res := b.run(t)
	require.Equal(t, wire.StatusCompleted, res.Status)
	require.Equal(t, 1, res.SendCount, "retries of one send are one send")
	require.Equal(t, []int{1, 1, 1, 1}, b.acts.publishAttempts())
	// Two local attempts a second apart fill localWindow; the third attempt
	// is a regular activity at once, and the fourth follows a second later.
	require.Equal(t, []time.Time{testStart, testStart.Add(time.Second), testStart.Add(time.Second), testStart.Add(2 * time.Second)}, b.acts.publishAt)
}

// TestOutagesOutlastTimeouts keeps the mirror database and the broker away
// for longer than one attempt's timeout and the local try: the retries go on
// until both are back, the message is delivered while the mirror is still
// away, and the mirror ends with every transition.
func TestOutagesOutlastTimeouts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.Confirmed = true
	// Three minutes: the test environment bounds a regular activity's
	// retries at a few minutes (a server leaves them unbounded).
	mirrorBack := testStart.Add(3 * time.Minute)
	b.acts.mirrorErr = func(now time.Time) error {
		if now.Before(mirrorBack) {
			return errors.New("dial tcp 127.0.0.1:3306: connect: connection refused")
		}
		return nil
	}
	b.acts.publishErr = brokerDownFor(8) // 1+2+4+8+10+10+10 s of backoff: past publishTimeout
	b.acts.duringPublish = func(n int) {
		if n == 9 {
			b.env.RegisterDelayedCallback(func() { b.env.SignalWorkflow(contract.SignalComplete, contract.Completion{}) }, 30*time.Second)
		}
	}
	res := b.run(t)
	require.Equal(t, wire.StatusCompleted, res.Status)
	require.Len(t, b.acts.publishes, 9)
	require.True(t, b.acts.publishAt[8].Before(mirrorBack), "delivery waited for the mirror: published at %s", b.acts.publishAt[8])
	require.Greater(t, b.acts.mirrorFailures, 5)
	require.Equal(t, []wire.Status{wire.StatusSending, wire.StatusDelivered, wire.StatusCompleted}, b.acts.mirrorStatuses())
}

// upsertedStatuses records every CourierStatus the workflow upserts.
func (b *bundle) upsertedStatuses() *[]wire.Status {
	var got []wire.Status
	b.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		if v, ok := sa.GetKeyword(contract.SearchAttrStatus); ok {
			got = append(got, wire.Status(v))
		}
	}).Return(nil)
	return &got
}

func TestSendingIsUpsertedOnlyWhenThePublishLasts(t *testing.T) {
	t.Parallel()
	quick := setup(t)
	quickUpserts := quick.upsertedStatuses()
	quick.signalAt(time.Second, contract.SignalConfirm, contract.Decision{})
	quick.signalAt(time.Minute-time.Second, contract.SignalComplete, contract.Completion{})
	quick.run(t)
	require.Equal(t, []wire.Status{wire.StatusWaitingConfirm, wire.StatusDelivered, wire.StatusCompleted}, *quickUpserts,
		"a publish inside the workflow task goes straight to DELIVERED")

	slow := setup(t)
	slowUpserts := slow.upsertedStatuses()
	slow.acts.publishErr = brokerDownFor(4) // two local attempts, then two regular ones
	slow.signalAt(time.Second, contract.SignalConfirm, contract.Decision{})
	slow.signalAt(time.Minute, contract.SignalComplete, contract.Completion{})
	slow.run(t)
	require.Equal(t, []wire.Status{wire.StatusWaitingConfirm, wire.StatusSending, wire.StatusDelivered, wire.StatusCompleted}, *slowUpserts,
		"a publish that outlasts the local try shows SENDING while it retries")
}

func TestPermanentPublishErrorIsDeadThenRedrive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.Confirmed = true
	b.acts.publishErr = func(n int) error {
		if n == 1 {
			return temporal.NewNonRetryableApplicationError("message too large", activities.ErrTypePublishRejected, nil)
		}
		return nil
	}
	var dead contract.State
	b.env.RegisterDelayedCallback(func() {
		v, err := b.env.QueryWorkflow(contract.QueryState)
		require.NoError(t, err)
		require.NoError(t, v.Get(&dead))
		b.env.SignalWorkflow(contract.SignalRedrive, contract.Decision{By: "operator"})
	}, time.Hour)
	b.acts.duringPublish = func(n int) {
		if n == 2 {
			b.env.SignalWorkflow(contract.SignalComplete, contract.Completion{})
		}
	}

	res := b.run(t)

	require.Equal(t, wire.StatusDead, dead.Status)
	require.Contains(t, dead.LastError, "message too large")
	require.Len(t, dead.Publishes, 1)
	require.NotEmpty(t, dead.Publishes[0].Error)
	require.Equal(t, wire.StatusCompleted, res.Status)
	require.Equal(t, []int{1, 1}, b.acts.publishAttempts(), "redrive resets the send count")
}

func TestResendScheduleThenDeadThenLateComplete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.Confirmed = true
	// sends at 0, +1 min, +3 min; DEAD at +8 min; a late complete at +1 h.
	b.signalAt(time.Hour, contract.SignalComplete, contract.Completion{})
	var dead contract.State
	b.env.RegisterDelayedCallback(func() {
		v, err := b.env.QueryWorkflow(contract.QueryState)
		require.NoError(t, err)
		require.NoError(t, v.Get(&dead))
	}, 30*time.Minute)

	res := b.run(t)

	require.Equal(t, []int{1, 2, 3}, b.acts.publishAttempts())
	require.Equal(t, []time.Time{testStart, testStart.Add(time.Minute), testStart.Add(3 * time.Minute)}, b.acts.publishAt)
	require.Equal(t, wire.StatusDead, dead.Status)
	require.Equal(t, 3, dead.SendCount)
	require.Contains(t, dead.LastError, "not completed after 3 sends")
	require.Equal(t, wire.StatusCompleted, res.Status)
	statuses := b.acts.mirrorStatuses()
	require.Equal(t, wire.StatusDead, statuses[len(statuses)-2])
	require.Equal(t, wire.StatusCompleted, statuses[len(statuses)-1])
}

func TestFanOutWaitsForEveryConsumer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.Confirmed = true
	b.input.Message.Consumers = []string{"accounting", "points"}
	b.signalAt(10*time.Second, contract.SignalComplete, contract.Completion{Consumer: "accounting"})
	b.signalAt(20*time.Second, contract.SignalComplete, contract.Completion{Consumer: "accounting"}) // duplicate
	b.signalAt(30*time.Second, contract.SignalComplete, contract.Completion{Consumer: "billing"})    // not a listed consumer
	b.signalAt(40*time.Second, contract.SignalComplete, contract.Completion{})                       // anonymous
	b.signalAt(90*time.Second, contract.SignalComplete, contract.Completion{Consumer: "points"})     // after one resend

	res := b.run(t)

	require.Equal(t, wire.StatusCompleted, res.Status)
	require.Equal(t, []string{"accounting", "points"}, res.CompletedBy)
	require.Equal(t, []int{1, 2}, b.acts.publishAttempts(), "a resend goes out while any consumer is missing")
}

func TestDeliverAtDelaysSending(t *testing.T) {
	t.Parallel()
	b := setup(t)
	at := testStart.Add(2 * time.Hour)
	b.input.Message.DeliverAt = &at
	b.signalAt(time.Minute, contract.SignalConfirm, contract.Decision{})
	b.acts.duringPublish = func(int) { b.env.SignalWorkflow(contract.SignalComplete, contract.Completion{}) }

	res := b.run(t)

	require.Equal(t, wire.StatusCompleted, res.Status)
	require.Equal(t, []time.Time{at}, b.acts.publishAt)
	// Two unanswered check-backs (+10 s, +30 s) come before the confirm at +1 min.
	require.Equal(t, []wire.Status{
		wire.StatusWaitingConfirm, wire.StatusWaitingConfirm, wire.StatusWaitingConfirm,
		wire.StatusScheduled, wire.StatusCompleted,
	}, b.acts.mirrorStatuses())
}

func TestDirectSendStartsConfirmed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.Confirmed = true
	b.acts.duringPublish = func(int) { b.env.SignalWorkflow(contract.SignalComplete, contract.Completion{}) }
	res := b.run(t)
	require.Equal(t, wire.StatusCompleted, res.Status)
	require.Equal(t, []time.Time{testStart}, b.acts.publishAt)
	require.Equal(t, wire.StatusSending, b.acts.mirrorStatuses()[0], "the first row already shows the send")
}

func TestCompleteDuringPublishCompletes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.Confirmed = true
	// The broker is down; the consumer saw an earlier attempt that Kafka did
	// take before the answer was lost, and completes.
	b.acts.publishErr = func(int) error { return errors.New("kafka: request timed out") }
	b.signalAt(20*time.Second, contract.SignalComplete, contract.Completion{})
	res := b.run(t)
	require.Equal(t, wire.StatusCompleted, res.Status)
	require.GreaterOrEqual(t, len(b.acts.publishes), 2)
	last := b.acts.mirror[0].Transition
	for _, w := range b.acts.mirror {
		if w.Transition.Revision > last.Revision {
			last = w.Transition
		}
	}
	require.Equal(t, wire.StatusCompleted, last.Status)
	require.NotNil(t, last.PublishedAt, "a completed message shows when it was published at the latest")
	require.Equal(t, testStart.Add(20*time.Second), last.PublishedAt.UTC())
}

func TestCorruptSignalIsDropped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.signalAt(time.Second, contract.SignalConfirm, "not a decision")
	b.signalAt(2*time.Second, contract.SignalComplete, 12345)
	b.signalAt(3*time.Second, contract.SignalCancel, contract.Decision{})
	res := b.run(t)
	require.Equal(t, wire.StatusCancelled, res.Status)
	require.Empty(t, b.acts.publishes)
}

func TestSignalRecordsAreBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.Confirmed = true
	for i := range contract.MaxSignalRecords + 20 {
		b.signalAt(time.Duration(i+1)*time.Millisecond, contract.SignalConfirm, contract.Decision{By: "retrying-client"})
	}
	st := b.runUnfinished(t, 10*time.Second)
	require.Len(t, st.Signals, contract.MaxSignalRecords)
	require.Equal(t, 20, st.SignalsDropped)
	require.Equal(t, wire.Repeated, st.Signals[0].Outcome)
	require.Equal(t, []int{1}, b.acts.publishAttempts(), "repeated confirms never publish again")
}

func TestInvalidInputFails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.Policy.CheckMaxAttempts = 0
	b.env.ExecuteWorkflow(contract.WorkflowType, b.input)
	require.True(t, b.env.IsWorkflowCompleted())
	err := b.env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "check_max_attempts")
}

func TestQueryState(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.Message.Consumers = []string{"accounting"}
	b.signalAt(time.Minute, contract.SignalConfirm, contract.Decision{By: "producer"})
	b.acts.answer = func(int) (activities.CheckResult, error) {
		return activities.CheckResult{Answer: models.CheckUnknown, Detail: "HTTP 500"}, nil
	}
	st := b.runUnfinished(t, 90*time.Second)

	require.Equal(t, "order-42", st.MessageID)
	require.Equal(t, "orders", st.Topic)
	require.Equal(t, wire.StatusDelivered, st.Status)
	require.Equal(t, 1, st.SendCount)
	require.Equal(t, 2, st.CheckCount) // at +10 s and +30 s, before the confirm at +60 s
	require.Equal(t, []string{"accounting"}, st.Consumers)
	require.Len(t, st.Checks, 2)
	require.Equal(t, "HTTP 500", st.Checks[0].Detail)
	require.Equal(t, testStart.Add(10*time.Second), st.Checks[0].At)
	require.Len(t, st.Publishes, 1)
	require.Equal(t, testStart.Add(time.Minute), st.Publishes[0].At)
	require.Equal(t, []contract.SignalRecord{{Name: contract.SignalConfirm, At: testStart.Add(time.Minute), Outcome: wire.Applied, By: "producer"}}, st.Signals)
	require.NotNil(t, st.NextAt)
	require.Equal(t, testStart.Add(2*time.Minute), *st.NextAt, "the first resend is due a minute after the send")
	require.Empty(t, st.LastError, "a confirm clears the check-back error")
	require.Equal(t, int64(5), st.Revision, "five transitions: prepared, two checks, sending, delivered")
}

// A message of a retired version (unpinned ones included) is not run by code
// that no longer has its branches: the workflow task fails, naming the
// version and what to do, before the workflow does anything.
func TestRetiredVersionFailsTheTask(t *testing.T) {
	t.Parallel()
	for _, v := range []contract.Version{0, contract.VersionLocalActivities, contract.VersionOrderedMirror} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.input.Version = v
			b.input.Confirmed = true
			b.env.ExecuteWorkflow(contract.WorkflowType, b.input)
			require.True(t, b.env.IsWorkflowCompleted())
			var panicErr *temporal.PanicError
			require.ErrorAs(t, b.env.GetWorkflowError(), &panicErr)
			require.Contains(t, panicErr.Error(), fmt.Sprintf("started with retired workflow version %d", v))
			require.Contains(t, panicErr.Error(), "Run a Courier release that still runs it until such messages have closed")
			require.Empty(t, b.acts.publishAttempts(), "nothing was published")
			require.Empty(t, b.acts.arrivals, "nothing was mirrored")
		})
	}
}

// A message started by a newer Courier is not run by code that does not know
// its version: the workflow task fails (the server retries it) instead.
func TestUnknownPinnedVersionFailsTheTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.Version = contract.CurrentVersion + 1
	b.env.ExecuteWorkflow(contract.WorkflowType, b.input)
	require.True(t, b.env.IsWorkflowCompleted())
	var panicErr *temporal.PanicError
	require.ErrorAs(t, b.env.GetWorkflowError(), &panicErr)
	require.Contains(t, panicErr.Error(), fmt.Sprintf("started with workflow version %d", contract.CurrentVersion+1))
	require.Empty(t, b.acts.publishAttempts(), "nothing was published")
}

// A message's mirror writes run one at a time, in
// revision order, so a transition never reaches the database before its row
// is created; a SENDING that passes within the local publish is not written.
func TestMirrorWritesRunInOrder(t *testing.T) {
	t.Parallel()
	slowCreate := func(in activities.MirrorInput) time.Duration {
		if in.Create != nil {
			return 50 * time.Millisecond
		}
		return 0
	}
	for _, tc := range []struct {
		name   string
		direct bool
		want   []wire.Status
	}{
		{"confirmed", false, []wire.Status{wire.StatusWaitingConfirm, wire.StatusDelivered, wire.StatusCompleted}},
		// A direct send's row is created as SENDING: that write cannot be left out.
		{"direct", true, []wire.Status{wire.StatusSending, wire.StatusDelivered, wire.StatusCompleted}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t)
			b.input.Confirmed = tc.direct
			b.acts.mirrorDelay = slowCreate
			if !tc.direct {
				b.signalAt(0, contract.SignalConfirm, contract.Decision{})
			}
			b.signalAt(time.Second, contract.SignalComplete, contract.Completion{})

			require.Equal(t, wire.StatusCompleted, b.run(t).Status)

			require.Equal(t, tc.want, b.acts.arrivals, "mirror writes in the order they reached the database")
			require.Equal(t, 1, b.acts.maxInFlight, "mirror writes of one message at once")
		})
	}
}

// A publish that outlasts its local try shows SENDING in the mirror too, once
// it is handed to a regular activity. A SENDING mirror write still running
// when its publish ends is not cancelled with the publish: the workflow used
// to end Canceled, its mirror row behind, when the database was slow during
// a broker outage.
func TestSendingIsMirroredWhenThePublishLasts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// failures is how many publish attempts fail; the local tries are
		// the first two.
		failures    int
		mirrorDelay func(activities.MirrorInput) time.Duration
	}{
		{name: "regular attempts fail too", failures: 4}, // two local attempts, then two regular ones
		{
			name:     "slow SENDING write outlives the publish",
			failures: 2, // the local tries fail, the regular one lands
			mirrorDelay: func(in activities.MirrorInput) time.Duration {
				if in.Transition.Status == wire.StatusSending {
					return 500 * time.Millisecond
				}
				return 0
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.acts.publishErr = brokerDownFor(tc.failures)
			b.acts.mirrorDelay = tc.mirrorDelay
			b.signalAt(time.Second, contract.SignalConfirm, contract.Decision{})
			b.signalAt(time.Minute, contract.SignalComplete, contract.Completion{})

			require.Equal(t, wire.StatusCompleted, b.run(t).Status)

			require.Equal(t, []wire.Status{wire.StatusWaitingConfirm, wire.StatusSending, wire.StatusDelivered, wire.StatusCompleted},
				b.acts.mirrorStatuses())
		})
	}
}

// Whether the first status needs an upsert is
// decided by the input alone: the start event's search attributes, which a
// lagging Temporal node may show without Courier's, do not change the
// history. Here the start event has none, and the input says the client set
// WAITING_CONFIRM: no upsert repeats it.
func TestStartStatusComesFromTheInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.StartStatus = wire.StatusWaitingConfirm
	upserts := b.upsertedStatuses()
	b.signalAt(time.Second, contract.SignalConfirm, contract.Decision{})
	b.signalAt(time.Minute-time.Second, contract.SignalComplete, contract.Completion{})
	b.run(t)
	require.Equal(t, []wire.Status{wire.StatusDelivered, wire.StatusCompleted}, *upserts)

	// The same input without StartStatus upserts its first status.
	b = setup(t)
	upserts = b.upsertedStatuses()
	b.signalAt(time.Second, contract.SignalConfirm, contract.Decision{})
	b.signalAt(time.Minute-time.Second, contract.SignalComplete, contract.Completion{})
	b.run(t)
	require.Equal(t, []wire.Status{wire.StatusWaitingConfirm, wire.StatusDelivered, wire.StatusCompleted}, *upserts)
}

// A complete that comes while the message is not sent yet, as far as the
// workflow's committed state knows, is held, not refused: a workflow task
// that published the message can be lost before Temporal commits it, and the
// consumer then holds a record of a message the workflow still calls
// WAITING_CONFIRM (or CHECK_EXHAUSTED, SCHEDULED). The message is still
// published, once, and the held completion completes it right after.
func TestEarlyCompletionIsHeldUntilThePublish(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status wire.Status
		park   func(b *bundle)
		sendAt time.Duration
	}{
		{"confirm", wire.StatusWaitingConfirm, func(b *bundle) {
			b.signalAt(time.Minute, contract.SignalConfirm, contract.Decision{By: "producer"})
		}, time.Minute},
		{"operator", wire.StatusCheckExhausted, func(b *bundle) {
			b.input.Policy.CheckMaxAttempts = 1 // exhausted at +10 s
			b.signalAt(time.Minute, contract.SignalConfirm, contract.Decision{By: "operator"})
		}, time.Minute},
		{"deliver_at", wire.StatusScheduled, func(b *bundle) {
			at := testStart.Add(time.Minute)
			b.input.Message.DeliverAt = &at
			b.input.Confirmed = true
		}, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			tc.park(b)
			var complete, again updateOutcome
			b.updateAt(t, 20*time.Second, contract.SignalComplete, contract.Completion{Consumer: "accounting"}, &complete)
			b.updateAt(t, 30*time.Second, contract.SignalComplete, contract.Completion{Consumer: "accounting"}, &again)
			var held contract.State
			b.env.RegisterDelayedCallback(func() {
				v, err := b.env.QueryWorkflow(contract.QueryState)
				require.NoError(t, err)
				require.NoError(t, v.Get(&held))
			}, 40*time.Second)
			b.env.ExecuteWorkflow(contract.WorkflowType, b.input)

			require.NoError(t, complete.err)
			require.Nil(t, complete.rejected, "a complete of a message not sent yet is refused")
			require.Equal(t, tc.status, complete.result.Status)
			require.Equal(t, wire.Accepted, complete.result.Outcome)
			require.Contains(t, complete.result.Reason, "held until it is published")
			require.NoError(t, again.err)
			require.NotNil(t, again.rejected, "a second early complete by the same consumer is a repeat")
			require.Equal(t, contract.UpdateRepeated, again.rejected.Type())
			require.Equal(t, tc.status, held.Status, "the completion did not skip the publish")
			require.Equal(t, []contract.EarlyCompletion{{Consumer: "accounting", At: testStart.Add(20 * time.Second)}}, held.EarlyCompletions,
				"the query shows the held completion")
			require.NotEmpty(t, held.Signals)
			require.Equal(t, wire.Accepted, held.Signals[len(held.Signals)-1].Outcome)

			require.True(t, b.env.IsWorkflowCompleted())
			require.NoError(t, b.env.GetWorkflowError())
			var res contract.Result
			require.NoError(t, b.env.GetWorkflowResult(&res))
			require.Equal(t, wire.StatusCompleted, res.Status)
			require.Equal(t, []string{"accounting"}, res.CompletedBy)
			require.Equal(t, []time.Time{testStart.Add(tc.sendAt)}, b.acts.publishAt, "published once, when the workflow decided to")
			statuses := b.acts.mirrorStatuses()
			require.Equal(t, []wire.Status{wire.StatusDelivered, wire.StatusCompleted}, statuses[len(statuses)-2:],
				"completed right after its publish")
			last := b.acts.mirror[len(b.acts.mirror)-1].Transition
			require.Equal(t, testStart.Add(tc.sendAt), last.CompletedAt.UTC())
			v, err := b.env.QueryWorkflow(contract.QueryState)
			require.NoError(t, err)
			var end contract.State
			require.NoError(t, v.Get(&end))
			require.Empty(t, end.EarlyCompletions)
			applied := end.Signals[len(end.Signals)-1]
			require.Equal(t, contract.SignalRecord{Name: contract.SignalComplete, At: testStart.Add(tc.sendAt), Outcome: wire.Applied,
				Consumer: "accounting", Reason: "held since 2026-11-22T10:00:20Z"}, applied)
		})
	}
}

// A completion held for a message that is then cancelled is dropped, and
// the message is never published.
func TestEarlyCompletionOfACancelledMessageIsDropped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var complete updateOutcome
	b.updateAt(t, time.Second, contract.SignalComplete, contract.Completion{}, &complete)
	b.signalAt(2*time.Second, contract.SignalCancel, contract.Decision{By: "producer"})

	res := b.run(t)
	var end contract.State
	v, err := b.env.QueryWorkflow(contract.QueryState)
	require.NoError(t, err)
	require.NoError(t, v.Get(&end))

	require.NoError(t, complete.err)
	require.Nil(t, complete.rejected, "a complete of a message not sent yet is refused")
	require.Equal(t, wire.Accepted, complete.result.Outcome)
	require.Equal(t, wire.StatusCancelled, res.Status)
	require.Empty(t, end.EarlyCompletions)
	require.Empty(t, res.CompletedBy)
	require.Empty(t, b.acts.publishes)
	require.Equal(t, []wire.Status{wire.StatusWaitingConfirm, wire.StatusCancelled}, b.acts.mirrorStatuses())
	last := end.Signals[len(end.Signals)-1]
	require.Equal(t, contract.SignalComplete, last.Name)
	require.Equal(t, wire.Rejected, last.Outcome)
	require.Contains(t, last.Reason, "dropped: message was cancelled")
}

// An early complete is validated as any complete: with named consumers it
// counts only for its own consumer, and one from a consumer the message does
// not name, or from none, is still refused.
func TestEarlyCompletionCountsForItsConsumer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.Message.Consumers = []string{"accounting", "points"}
	var billing, anonymous, accounting, points updateOutcome
	b.updateAt(t, time.Second, contract.SignalComplete, contract.Completion{Consumer: "billing"}, &billing)
	b.updateAt(t, 2*time.Second, contract.SignalComplete, contract.Completion{}, &anonymous)
	b.updateAt(t, 3*time.Second, contract.SignalComplete, contract.Completion{Consumer: "accounting"}, &accounting)
	b.signalAt(4*time.Second, contract.SignalConfirm, contract.Decision{By: "producer"})
	b.updateAt(t, 30*time.Second, contract.SignalComplete, contract.Completion{Consumer: "points"}, &points)

	res := b.run(t)

	require.NotNil(t, billing.rejected)
	require.Equal(t, contract.UpdateRejected, billing.rejected.Type())
	require.Contains(t, billing.rejected.Message(), `consumer "billing" is not one of`)
	require.NotNil(t, anonymous.rejected)
	require.Equal(t, contract.UpdateRejected, anonymous.rejected.Type())
	require.Contains(t, anonymous.rejected.Message(), "consumer name required")
	require.NoError(t, accounting.err)
	require.Nil(t, accounting.rejected)
	require.Equal(t, wire.Accepted, accounting.result.Outcome)
	require.Equal(t, wire.StatusWaitingConfirm, accounting.result.After, "a held completion leaves the status as it was")
	require.NoError(t, points.err)
	require.Equal(t, contract.UpdateResult{Status: wire.StatusDelivered, After: wire.StatusCompleted}, points.result,
		"the held completion counted for accounting only: the message waited for points")
	require.Equal(t, wire.StatusCompleted, res.Status)
	require.Equal(t, []string{"accounting", "points"}, res.CompletedBy)
	require.Equal(t, []int{1}, b.acts.publishAttempts())
}

// Workflows of versions before VersionEarlyCompletion refuse a complete of a
// message not sent yet, as they always did.
func TestEarlyCompletionRefusedByOlderVersions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.Version = contract.VersionDetachedMirror
	var complete updateOutcome
	b.updateAt(t, time.Second, contract.SignalComplete, contract.Completion{}, &complete)
	b.signalAt(2*time.Second, contract.SignalConfirm, contract.Decision{By: "producer"})
	b.signalAt(3*time.Second, contract.SignalComplete, contract.Completion{})

	res := b.run(t)

	require.NotNil(t, complete.rejected)
	require.Equal(t, contract.UpdateRejected, complete.rejected.Type())
	require.Equal(t, "message is WAITING_CONFIRM, it has not been sent", complete.rejected.Message())
	require.Equal(t, wire.StatusCompleted, res.Status)
	require.Equal(t, []int{1}, b.acts.publishAttempts())
}
