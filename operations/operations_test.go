package operations_test

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/internal/teststack"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/operations"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

func newService(t *testing.T, messages *contract.Client, mirror *store.Store) *operations.Service {
	t.Helper()
	ops, err := operations.New(operations.Deps{Messages: messages, Store: mirror, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return ops
}

// TestOperatorActionsAreAudited: an operator's action is recorded whatever
// it did, also when no workflow could be asked and when a re-drive of a
// topic found nothing DEAD, so the audit log says what was tried.
func TestOperatorActionsAreAudited(t *testing.T) {
	t.Parallel()
	st := teststack.New(t, teststack.Config{})
	ops := newService(t, st.Messages, st.Store)
	ctx := t.Context()

	typo := ops.Act(ctx, "never-was", contract.Request{Action: models.Redrive, By: "ops", Reason: "typo"})
	require.Len(t, typo.Outcomes, 1)
	require.ErrorIs(t, typo.Outcomes[0].Err, models.ErrNotFound)
	_, err := typo.Outcomes[0].Answer()
	require.ErrorIs(t, err, models.ErrNotFound, "the transport classifies the error itself")

	none, err := ops.RedriveTopic(ctx, teststack.DefaultTopic, operations.MaxRedriveLimit, "ops", "nothing is DEAD")
	require.NoError(t, err)
	require.Empty(t, none.Outcomes)

	log, err := st.Store.AuditLog(ctx, 10, 0)
	require.NoError(t, err)
	require.Len(t, log, 2)
	require.Equal(t, []models.AuditEntry{
		{ID: none.AuditID, At: log[0].At, By: "ops", Action: models.Redrive, Topic: teststack.DefaultTopic, Reason: "nothing is DEAD",
			Outcomes: []models.AuditOutcome{}},
		{ID: typo.AuditID, At: log[1].At, By: "ops", Action: models.Redrive, Reason: "typo",
			Outcomes: []models.AuditOutcome{{ID: "never-was", Disposition: models.Failed, Detail: "no message has this id"}}},
	}, log)
}

// TestRedriveTopicWithoutTheMirror: a mirror that does not answer is a
// failure worth retrying, and a re-drive that could list nothing claims
// nothing done.
func TestRedriveTopicWithoutTheMirror(t *testing.T) {
	t.Parallel()
	closed, err := store.Open(t.Context(), storetest.SQLiteConfig(t))
	require.NoError(t, err)
	require.NoError(t, closed.Close())
	// No Temporal server behind it: the mirror fails first.
	tc, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	messages, err := contract.NewClient(tc, contract.ClientConfig{Rows: closed, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ops := newService(t, messages, closed)

	var unav *contract.UnavailableError
	report, err := ops.RedriveTopic(t.Context(), "orders", operations.DefaultRedriveLimit, "ops", "")
	require.ErrorAs(t, err, &unav)
	require.Equal(t, "the message mirror", unav.Dependency)
	require.Equal(t, operations.Report{}, report)
}
