package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

// TestStatusAtMovesOnlyWithTheStatus: status_at is when the message entered
// its status; a write that keeps the status (a retried check-back, a
// re-send) leaves it, one that changes it moves it, on every backend.
func TestStatusAtMovesOnlyWithTheStatus(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		t0 := epoch()
		m := newMessage("m-1", t0)
		m.StatusAt = time.Time{} // as the workflow writes it
		_, err := s.Insert(ctx, m)
		require.NoError(t, err)
		statusAt := func() time.Time {
			got, err := s.Get(ctx, "m-1")
			require.NoError(t, err)
			return got.StatusAt
		}
		require.Equal(t, t0, statusAt(), "a new row entered its status when it was written")

		apply := func(rev int64, status wire.Status, at time.Time) {
			applied, err := s.Apply(ctx, models.Transition{ID: "m-1", Revision: rev, Status: status, CheckCount: int(rev), UpdatedAt: at})
			require.NoError(t, err)
			require.True(t, applied)
		}
		apply(2, wire.StatusWaitingConfirm, t0.Add(time.Second))
		require.Equal(t, t0, statusAt(), "the same status again")
		apply(3, wire.StatusCheckExhausted, t0.Add(2*time.Second))
		require.Equal(t, t0.Add(2*time.Second), statusAt(), "a new status")
		apply(4, wire.StatusCheckExhausted, t0.Add(3*time.Second))
		require.Equal(t, t0.Add(2*time.Second), statusAt())

		// A stale write changes nothing, status_at included.
		applied, err := s.Apply(ctx, models.Transition{ID: "m-1", Revision: 3, Status: wire.StatusSending, UpdatedAt: t0.Add(4 * time.Second)})
		require.NoError(t, err)
		require.False(t, applied)
		require.Equal(t, t0.Add(2*time.Second), statusAt())

		page, err := s.List(ctx, store.Filter{})
		require.NoError(t, err)
		require.Equal(t, t0.Add(2*time.Second), page.Messages[0].StatusAt, "List reads it too")
	})
}

// TestMigration5Backfills runs migration 5 again over rows as a schema
// before it held them: messages without status_at get their updated_at, and
// the audit entries become findable by message.
func TestMigration5Backfills(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		m := newMessage("old-1", epoch())
		m.UpdatedAt = epoch().Add(time.Minute)
		_, err := s.Insert(ctx, m)
		require.NoError(t, err)
		e := models.AuditEntry{By: "ops", Action: models.Redrive, Outcomes: []models.AuditOutcome{{ID: "old-1", Disposition: wire.Applied}, {ID: "old-2", Disposition: wire.Rejected}}}
		require.NoError(t, s.Audit(ctx, &e))
		empty := models.AuditEntry{By: "ops", Action: models.Redrive, Topic: "orders"}
		require.NoError(t, s.Audit(ctx, &empty))

		db := s.DB()
		require.NoError(t, db.Exec("UPDATE messages SET status_at = NULL").Error)
		require.NoError(t, db.Exec("DELETE FROM audit_messages").Error)
		got, err := s.Get(ctx, "old-1")
		require.NoError(t, err)
		require.Equal(t, m.UpdatedAt, got.StatusAt, "a NULL status_at reads as updated_at")
		require.NoError(t, db.Exec("DELETE FROM courier_schema_migrations WHERE version = 5").Error)

		require.NoError(t, s.Migrate(ctx))
		var stored time.Time
		require.NoError(t, db.Raw("SELECT status_at FROM messages WHERE id = 'old-1'").Row().Scan(&stored))
		require.Equal(t, m.UpdatedAt, stored.UTC())
		for _, id := range []string{"old-1", "old-2"} {
			found, err := s.AuditSearch(ctx, store.AuditFilter{MessageID: id, Limit: 10})
			require.NoError(t, err)
			require.Len(t, found, 1, id)
			require.Equal(t, e.ID, found[0].ID)
		}
	})
}
