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

func TestOverviewCounts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		now := time.Now().UTC()
		old, recent := now.Add(-2*time.Hour), now.Add(-10*time.Minute)
		for _, r := range []struct {
			id, topic string
			status    wire.Status
			created   time.Time
			published *time.Time
			completed *time.Time
		}{
			{"w-old", "orders", wire.StatusWaitingConfirm, old, nil, nil},
			{"w-new", "orders", wire.StatusWaitingConfirm, recent, nil, nil},
			{"c-old", "orders", wire.StatusCompleted, old, &old, &recent},
			{"c-new", "payments", wire.StatusCompleted, recent, &recent, &recent},
			{"dead", "payments", wire.StatusDead, old, &recent, nil},
		} {
			m := newMessage(r.id, r.created)
			m.Topic, m.Status, m.PublishedAt, m.CompletedAt = r.topic, r.status, r.published, r.completed
			_, err := s.Insert(ctx, m)
			require.NoError(t, err)
		}

		byTopic, err := s.CountByTopic(ctx)
		require.NoError(t, err)
		require.Equal(t, map[string]map[wire.Status]int64{
			"orders":   {wire.StatusWaitingConfirm: 2, wire.StatusCompleted: 1},
			"payments": {wire.StatusCompleted: 1, wire.StatusDead: 1},
		}, byTopic)

		a, err := s.ActivitySince(ctx, now.Add(-time.Hour))
		require.NoError(t, err)
		require.Equal(t, store.Activity{Created: 2, Published: 2, Completed: 2}, a)

		n, err := s.CountStatusBefore(ctx, wire.StatusWaitingConfirm, now.Add(-time.Hour))
		require.NoError(t, err)
		require.Equal(t, int64(1), n)
	})
}

func TestAuditLog(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for i, e := range []models.AuditEntry{
			{By: "ops", Action: models.Cancel, Reason: "stuck since Monday", Outcomes: []models.AuditOutcome{{ID: "m-1", Disposition: wire.Applied, Status: wire.StatusCheckExhausted}}},
			{By: "ops", Action: models.Redrive, Topic: "orders", Outcomes: []models.AuditOutcome{
				{ID: "m-2", Disposition: wire.Applied, Status: wire.StatusDead},
				{ID: "m-3", Disposition: "failed", Detail: "Temporal is unavailable"},
			}},
		} {
			e.At = time.Date(2026, 11, 30, 10, 0, i, 0, time.UTC)
			require.NoError(t, s.Audit(ctx, &e))
			require.NotZero(t, e.ID)
		}
		log, err := s.AuditLog(ctx, 10, 0)
		require.NoError(t, err)
		require.Len(t, log, 2)
		require.Equal(t, models.Redrive, log[0].Action, "newest first")
		require.Equal(t, "orders", log[0].Topic)
		require.Len(t, log[0].Outcomes, 2)
		require.Equal(t, "Temporal is unavailable", log[0].Outcomes[1].Detail)
		require.Equal(t, time.Date(2026, 11, 30, 10, 0, 1, 0, time.UTC), log[0].At)
		require.Equal(t, "stuck since Monday", log[1].Reason)

		older, err := s.AuditLog(ctx, 10, log[0].ID)
		require.NoError(t, err)
		require.Len(t, older, 1)
		require.Equal(t, log[1].ID, older[0].ID)
	})
}
