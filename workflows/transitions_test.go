package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
)

// queryAt answers the workflow's state d after it starts.
func (b *bundle) queryAt(t *testing.T, d time.Duration) *contract.Story {
	st := new(contract.Story)
	b.env.RegisterDelayedCallback(func() {
		v, err := b.env.QueryWorkflow(contract.QueryState)
		require.NoError(t, err)
		require.NoError(t, v.Get(st))
	}, d)
	return st
}

// finalState is the state of the workflow that has returned.
func (b *bundle) finalState(t *testing.T) contract.Story {
	var st contract.Story
	v, err := b.env.QueryWorkflow(contract.QueryState)
	require.NoError(t, err)
	require.NoError(t, v.Get(&st))
	return st
}

// moves are the transitions of st without their times.
func moves(st contract.Story) []contract.TransitionRecord {
	out := make([]contract.TransitionRecord, len(st.Transitions))
	for i, tr := range st.Transitions {
		tr.At = time.Time{}
		out[i] = tr
	}
	return out
}

// The state records every status change with its time and cause, and an
// operator's cancel of a CHECK_EXHAUSTED message replaces the check-back's
// error with what the operator did, in the state, the mirror and the result.
func TestTransitionsOfAnExhaustedMessageCancelledByAnOperator(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// five checks: 10+20+40+60+60 s = 190 s; the operator acts a day later.
	b.signalAt(24*time.Hour, contract.SignalCancel, contract.Decision{By: "alice", Reason: "duplicate order", Operator: true})
	waiting := b.queryAt(t, 15*time.Second)
	parked := b.queryAt(t, time.Hour)

	res := b.run(t)
	final := b.finalState(t)

	// Between the first and the second check-back it says what comes next.
	require.Equal(t, testStart.Add(30*time.Second), *waiting.NextAt)
	require.Equal(t, "check-back 2 of 5", waiting.Next)
	require.Equal(t, testPolicy(), waiting.Policy)

	require.Equal(t, wire.StatusCheckExhausted, parked.Status)
	require.Nil(t, parked.NextAt)
	require.Empty(t, parked.Next)
	require.Equal(t, []contract.TransitionRecord{
		{To: wire.StatusWaitingConfirm, Why: "prepared"},
		{From: wire.StatusWaitingConfirm, To: wire.StatusCheckExhausted, Why: "check-back 5 of 5 answered UNKNOWN: no check-backs left"},
	}, moves(*parked))
	require.Equal(t, testStart, parked.Transitions[0].At)
	require.Equal(t, testStart.Add(190*time.Second), parked.Transitions[1].At)
	require.Equal(t, "check-back 5: UNKNOWN no answer scripted", parked.LastError)

	const note = `cancelled by operator alice: "duplicate order"`
	require.Equal(t, wire.StatusCancelled, res.Status)
	require.Equal(t, note, res.LastError)
	require.Equal(t, contract.TransitionRecord{
		At: testStart.Add(24 * time.Hour), From: wire.StatusCheckExhausted, To: wire.StatusCancelled, Why: note,
	}, final.Transitions[2])
	require.Len(t, final.Transitions, 3)
	require.Equal(t, note, final.LastError)
	last := b.acts.mirror[len(b.acts.mirror)-1].Transition
	require.Equal(t, wire.StatusCancelled, last.Status)
	require.Equal(t, note, last.LastError, "the mirror's last_error names the operator, not the check-back")
}

// Every status of a sent message's life is a transition: the first send,
// each resend, DEAD when the sends are used up, the re-drive and the
// completion. An operator's re-drive stays in LastError after the
// successful publish and the completion that follow it.
func TestTransitionsOfAResentDeadRedrivenMessage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.input.Confirmed = true
	// sends at 0, +1 min, +3 min; DEAD at +8 min; re-driven at +1 h and
	// completed 30 s later.
	delivered := b.queryAt(t, 30*time.Second)
	lastWait := b.queryAt(t, 4*time.Minute)
	b.signalAt(time.Hour, contract.SignalRedrive, contract.Decision{By: "bob", Operator: true})
	b.signalAt(time.Hour+30*time.Second, contract.SignalComplete, contract.Completion{Consumer: "accounting"})

	res := b.run(t)

	require.Equal(t, wire.StatusDelivered, delivered.Status)
	require.Equal(t, "resend 2 of 3", delivered.Next)
	require.Equal(t, testStart.Add(time.Minute), *delivered.NextAt)
	require.Equal(t, "DEAD (no sends left)", lastWait.Next)
	require.Equal(t, testStart.Add(8*time.Minute), *lastWait.NextAt)

	require.Equal(t, wire.StatusCompleted, res.Status)
	require.Equal(t, "re-driven by operator bob", res.LastError)
	st := b.finalState(t)
	require.Equal(t, []contract.TransitionRecord{
		{To: wire.StatusSending, Why: "sent directly"},
		{From: wire.StatusSending, To: wire.StatusDelivered, Why: "publish 1 accepted: partition 1, offset 1"},
		{From: wire.StatusDelivered, To: wire.StatusSending, Why: "send 1 not completed within 1m0s"},
		{From: wire.StatusSending, To: wire.StatusDelivered, Why: "publish 2 accepted: partition 1, offset 2"},
		{From: wire.StatusDelivered, To: wire.StatusSending, Why: "send 2 not completed within 2m0s"},
		{From: wire.StatusSending, To: wire.StatusDelivered, Why: "publish 3 accepted: partition 1, offset 3"},
		{From: wire.StatusDelivered, To: wire.StatusDead, Why: "not completed after 3 sends: no sends left"},
		{From: wire.StatusDead, To: wire.StatusSending, Why: "re-driven by operator bob"},
		{From: wire.StatusSending, To: wire.StatusDelivered, Why: "publish 1 accepted: partition 1, offset 4"},
		{From: wire.StatusDelivered, To: wire.StatusCompleted, Why: "completed by consumer accounting"},
	}, moves(st))
	require.Equal(t, testStart.Add(8*time.Minute), st.Transitions[6].At)
	require.Equal(t, testStart.Add(time.Hour), st.Transitions[7].At)
}

// A producer's answers are transitions too, and its decisions clear the
// check-back's error rather than leave it standing on a settled message.
func TestTransitionsOfProducerDecisions(t *testing.T) {
	t.Parallel()
	t.Run("check-back committed", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.acts.answer = func(int) (activities.CheckResult, error) {
			return activities.CheckResult{Answer: models.CheckCommitted}, nil
		}
		b.signalAt(time.Minute, contract.SignalComplete, contract.Completion{})
		res := b.run(t)
		require.Equal(t, wire.StatusCompleted, res.Status)
		st := b.finalState(t)
		require.Equal(t, []contract.TransitionRecord{
			{To: wire.StatusWaitingConfirm, Why: "prepared"},
			{From: wire.StatusWaitingConfirm, To: wire.StatusSending, Why: "check-back 1 of 5 answered COMMITTED"},
			{From: wire.StatusSending, To: wire.StatusDelivered, Why: "publish 1 accepted: partition 1, offset 1"},
			{From: wire.StatusDelivered, To: wire.StatusCompleted, Why: "completed"},
		}, moves(st))
	})
	t.Run("cancel after an unanswered check-back", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.signalAt(15*time.Second, contract.SignalCancel, contract.Decision{By: "orders-svc", Reason: "payment failed"})
		res := b.run(t)
		require.Equal(t, wire.StatusCancelled, res.Status)
		require.Empty(t, res.LastError, "the producer's cancel settles the check-back's error")
		require.Empty(t, b.acts.mirror[len(b.acts.mirror)-1].Transition.LastError)
		st := b.finalState(t)
		require.Equal(t, []contract.TransitionRecord{
			{To: wire.StatusWaitingConfirm, Why: "prepared"},
			{From: wire.StatusWaitingConfirm, To: wire.StatusCancelled, Why: `cancelled by orders-svc: "payment failed"`},
		}, moves(st))
	})
}
