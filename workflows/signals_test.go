package workflows

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
)

// TestEverySignalInEveryState sends each signal to a message of the current
// code version parked in each non-terminal state and checks what the
// workflow did with it: the recorded outcome, the state it entered (if any)
// and that nothing was published that should not have been.
func TestEverySignalInEveryState(t *testing.T) {
	t.Parallel()
	const at = time.Hour // when the signal is sent; every state below is reached long before

	// park brings a fresh workflow into one state and keeps it there past `at`.
	park := map[wire.Status]func(b *bundle){
		wire.StatusWaitingConfirm: func(b *bundle) {
			b.input.Policy.CheckDelay = 2 * time.Hour
			b.input.Policy.CheckMaxDelay = 2 * time.Hour
		},
		wire.StatusCheckExhausted: func(b *bundle) {
			b.input.Policy.CheckMaxAttempts = 1
		},
		wire.StatusScheduled: func(b *bundle) {
			deliverAt := testStart.Add(10 * time.Hour)
			b.input.Message.DeliverAt = &deliverAt
			b.input.Confirmed = true
		},
		wire.StatusSending: func(b *bundle) {
			b.input.Confirmed = true
			b.acts.publishErr = func(int) error { return errors.New("kafka: leader not available") }
		},
		wire.StatusDelivered: func(b *bundle) {
			b.input.Confirmed = true
			b.input.Policy.ResendIntervals = []time.Duration{3 * time.Hour}
		},
		wire.StatusDead: func(b *bundle) {
			b.input.Confirmed = true
			b.acts.publishErr = func(n int) error {
				if n == 1 {
					return temporal.NewNonRetryableApplicationError("topic authorization failed", activities.ErrTypePublishRejected, nil)
				}
				return nil
			}
		},
	}

	type outcome struct {
		disposition wire.Outcome
		enters      wire.Status // "" when the signal changes nothing
	}
	applied := func(s wire.Status) outcome { return outcome{wire.Applied, s} }
	repeated := outcome{disposition: wire.Repeated}
	rejected := outcome{disposition: wire.Rejected}
	held := outcome{disposition: wire.Accepted} // applied once the message is published

	want := map[wire.Status]map[string]outcome{
		wire.StatusWaitingConfirm: {
			contract.SignalConfirm: applied(wire.StatusSending), contract.SignalCancel: applied(wire.StatusCancelled),
			contract.SignalComplete: held, contract.SignalRedrive: rejected,
		},
		wire.StatusCheckExhausted: {
			contract.SignalConfirm: applied(wire.StatusSending), contract.SignalCancel: applied(wire.StatusCancelled),
			contract.SignalComplete: held, contract.SignalRedrive: rejected,
		},
		wire.StatusScheduled: {
			contract.SignalConfirm: repeated, contract.SignalCancel: rejected, contract.SignalComplete: held, contract.SignalRedrive: rejected,
		},
		wire.StatusSending: {
			contract.SignalConfirm: repeated, contract.SignalCancel: rejected,
			contract.SignalComplete: applied(wire.StatusCompleted), contract.SignalRedrive: repeated,
		},
		wire.StatusDelivered: {
			contract.SignalConfirm: repeated, contract.SignalCancel: rejected,
			contract.SignalComplete: applied(wire.StatusCompleted), contract.SignalRedrive: repeated,
		},
		wire.StatusDead: {
			contract.SignalConfirm: repeated, contract.SignalCancel: rejected,
			contract.SignalComplete: applied(wire.StatusCompleted), contract.SignalRedrive: applied(wire.StatusSending),
		},
	}

	for _, status := range wire.Statuses {
		if status.Terminal() {
			continue // a closed workflow takes no signals; the gateway answers from the mirror
		}
		for _, signal := range []string{contract.SignalConfirm, contract.SignalCancel, contract.SignalComplete, contract.SignalRedrive} {
			t.Run(fmt.Sprintf("%s/%s", status, signal), func(t *testing.T) {
				t.Parallel()
				require.Contains(t, park, status, "no way to bring a message to %s: the workflow must reach it and this test say how", status)
				require.Contains(t, want, status, "what each signal does to a %s message is not decided", status)
				b := setup(t)
				park[status](b)
				w := want[status][signal]

				var before, after contract.State
				query := func(into *contract.State) {
					v, err := b.env.QueryWorkflow(contract.QueryState)
					require.NoError(t, err)
					require.NoError(t, v.Get(into))
				}
				b.env.RegisterDelayedCallback(func() { query(&before) }, at-time.Millisecond)
				var arg any = contract.Decision{By: "test"}
				if signal == contract.SignalComplete {
					arg = contract.Completion{}
				}
				b.signalAt(at, signal, arg)
				b.env.RegisterDelayedCallback(func() { query(&after) }, at+time.Second)
				b.env.RegisterDelayedCallback(func() { b.env.CancelWorkflow() }, at+2*time.Second)

				b.env.ExecuteWorkflow(contract.WorkflowType, b.input)
				require.True(t, b.env.IsWorkflowCompleted())

				require.Equal(t, status, before.Status, "parked in the wrong state: %s", before.LastError)
				if w.enters.Terminal() {
					var res contract.Result
					require.NoError(t, b.env.GetWorkflowResult(&res))
					require.Equal(t, w.enters, res.Status)
				} else {
					require.NotEmpty(t, after.Signals, "the signal is recorded")
					last := after.Signals[len(after.Signals)-1]
					require.Equal(t, signal, last.Name)
					require.Equal(t, w.disposition, last.Outcome)
					if w.disposition != wire.Applied {
						require.NotEmpty(t, last.Reason, "an ignored signal says why")
						require.Equal(t, before.Revision, after.Revision, "an ignored signal changes nothing")
						require.Equal(t, before.SendCount, after.SendCount)
					}
				}
				// A SENDING that passes within the local publish is not
				// mirrored; the send checked below shows it was entered.
				if w.enters != "" && w.enters != wire.StatusSending {
					entered := b.acts.mirrorStatusAt(before.Revision + 1)
					require.Equal(t, w.enters, entered)
				}
				if status != wire.StatusSending { // where publish retries go on regardless
					sentAfter := len(b.acts.publishes) - countBefore(b, at)
					require.Equal(t, w.enters == wire.StatusSending, sentAfter > 0,
						"a send follows the signal exactly when it leads to SENDING")
				}
			})
		}
	}
}

// countBefore counts the publishes made before t after the start.
func countBefore(b *bundle, d time.Duration) int {
	b.acts.mu.Lock()
	defer b.acts.mu.Unlock()
	n := 0
	for _, at := range b.acts.publishAt {
		if at.Before(testStart.Add(d)) {
			n++
		}
	}
	return n
}

// mirrorStatusAt is the status of the mirror write with revision rev.
func (f *fakeActivities) mirrorStatusAt(rev int64) wire.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.mirror {
		if w.Transition.Revision == rev {
			return w.Transition.Status
		}
	}
	return ""
}
