package operations_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/internal/teststack"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/operations"
	"github.com/courier-mq/courier/store"
)

// exhausted starts id with one quick check-back that gets no answer, and
// waits until its workflow and the mirror say CHECK_EXHAUSTED.
func exhausted(t *testing.T, st *teststack.Stack, id string) {
	t.Helper()
	in := st.Input(id)
	in.Policy.CheckDelay, in.Policy.CheckMaxDelay, in.Policy.CheckMaxAttempts, in.Policy.CheckTimeout = time.Second, time.Second, 1, time.Second
	st.Start(t, in)
	waitStatus(t, st, id, wire.StatusCheckExhausted)
}

func waitStatus(t *testing.T, st *teststack.Stack, id string, want wire.Status) {
	t.Helper()
	require.Eventually(t, func() bool {
		s, err := st.Messages.State(t.Context(), id)
		if err != nil || s.Status != want {
			return false
		}
		row, err := st.Store.Get(t.Context(), id)
		return err == nil && row.Status == want
	}, 60*time.Second, 100*time.Millisecond, "message %s never became %s", id, want)
}

// TestActMany: each selected message is decided on its own, a failure or a
// rejection does not stop the others, and the whole selection is one audit
// entry with every message's outcome, found by each message.
func TestActMany(t *testing.T) {
	t.Parallel()
	st := teststack.New(t, teststack.Config{})
	ops := newService(t, st.Messages, st.Store)
	ctx := t.Context()
	for _, id := range []string{"ex-1", "ex-2", "ex-3"} {
		exhausted(t, st, id)
	}

	cancel := contract.Request{Action: models.Cancel, By: "ops", Reason: "refunded"}
	report, err := ops.ActMany(ctx, []string{"ex-1", "never-was", "ex-2", "ex-1"}, cancel)
	require.NoError(t, err)
	require.Len(t, report.Outcomes, 3, "a repeated id is acted on once")
	require.Equal(t, models.AuditOutcome{ID: "ex-1", Disposition: wire.Applied, Status: wire.StatusCheckExhausted}, report.Outcomes[0].AuditOutcome)
	require.Equal(t, wire.StatusCancelled, report.Outcomes[0].After)
	require.Equal(t, "never-was", report.Outcomes[1].ID)
	require.Equal(t, models.Failed, report.Outcomes[1].Disposition)
	require.ErrorIs(t, report.Outcomes[1].Err, models.ErrNotFound)
	require.Equal(t, models.AuditOutcome{ID: "ex-2", Disposition: wire.Applied, Status: wire.StatusCheckExhausted}, report.Outcomes[2].AuditOutcome)
	waitStatus(t, st, "ex-1", wire.StatusCancelled)
	waitStatus(t, st, "ex-2", wire.StatusCancelled)

	confirm := contract.Request{Action: models.Confirm, By: "ann", Reason: "committed after all"}
	mixed, err := ops.ActMany(ctx, []string{"ex-1", "ex-3"}, confirm)
	require.NoError(t, err)
	require.Equal(t, wire.Rejected, mixed.Outcomes[0].Disposition)
	require.Equal(t, "message was cancelled", mixed.Outcomes[0].Detail)
	require.Equal(t, wire.Applied, mixed.Outcomes[1].Disposition)
	require.Eventually(t, func() bool {
		s, err := st.Messages.State(ctx, "ex-3")
		return err == nil && (s.Status == wire.StatusSending || s.Status == wire.StatusDelivered)
	}, 30*time.Second, 100*time.Millisecond)

	log, err := st.Store.AuditSearch(ctx, store.AuditFilter{MessageID: "ex-1", Limit: 10})
	require.NoError(t, err)
	require.Len(t, log, 2, "one entry per ActMany, each found by its messages")
	require.Equal(t, mixed.AuditID, log[0].ID)
	require.Equal(t, "ann", log[0].By)
	require.Equal(t, models.Confirm, log[0].Action)
	require.Equal(t, "committed after all", log[0].Reason)
	require.Len(t, log[0].Outcomes, 2)
	require.Equal(t, report.AuditID, log[1].ID)
	require.Equal(t, []models.AuditOutcome{
		{ID: "ex-1", Disposition: wire.Applied, Status: wire.StatusCheckExhausted},
		{ID: "never-was", Disposition: models.Failed, Detail: "no message has this id"},
		{ID: "ex-2", Disposition: wire.Applied, Status: wire.StatusCheckExhausted},
	}, log[1].Outcomes)
}

// TestActManyRefusesBadSelections: too many messages, none, or a malformed
// id is refused whole: nothing is asked and nothing audited.
func TestActManyRefusesBadSelections(t *testing.T) {
	t.Parallel()
	st := teststack.New(t, teststack.Config{})
	ops := newService(t, st.Messages, st.Store)
	ctx := t.Context()
	exhausted(t, st, "kept-1")

	tooMany := []string{"kept-1"}
	for i := range operations.MaxActMany {
		tooMany = append(tooMany, fmt.Sprintf("m-%d", i))
	}
	req := contract.Request{Action: models.Cancel, By: "ops", Reason: "cleanup"}
	_, err := ops.ActMany(ctx, tooMany, req)
	require.ErrorIs(t, err, operations.ErrTooMany)
	require.ErrorContains(t, err, "101 messages selected")
	_, err = ops.ActMany(ctx, nil, req)
	require.ErrorContains(t, err, "select at least one message")
	_, err = ops.ActMany(ctx, []string{"kept-1", "a b"}, req)
	require.ErrorContains(t, err, "must be 1-128 characters")

	// The cap counts distinct messages: the same one many times is one.
	same := make([]string, operations.MaxActMany+5)
	for i := range same {
		same[i] = "kept-1"
	}
	report, err := ops.ActMany(ctx, same, contract.Request{Action: models.Redrive, By: "ops", Reason: "not dead"})
	require.NoError(t, err)
	require.Len(t, report.Outcomes, 1)
	require.Equal(t, wire.Rejected, report.Outcomes[0].Disposition, "only a DEAD message can be re-driven")

	require.Equal(t, wire.StatusCheckExhausted, statusOf(t, st, "kept-1"))
	log, err := st.Store.AuditLog(ctx, 10, 0)
	require.NoError(t, err)
	require.Len(t, log, 1, "only the selection that was acted on is audited")
}

// statusOf is what id's workflow says its status is now.
func statusOf(t *testing.T, st *teststack.Stack, id string) wire.Status {
	t.Helper()
	s, err := st.Messages.State(t.Context(), id)
	require.NoError(t, err)
	return s.Status
}
