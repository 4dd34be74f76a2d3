package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

// trendMessages puts messages in known states at known minutes from t0
// (a whole minute): the flows of minute 0 are 3 prepared, 1 published, 0
// completed, 1 dead; of minute 2, 1 prepared, 2 published, 2 completed, 0
// dead. The backlog is 2 WAITING_CONFIRM, 1 DELIVERED, 1 DEAD.
func trendMessages(t *testing.T, s *store.Store, t0 time.Time) {
	t.Helper()
	at := func(minute int, sec int) *time.Time {
		v := t0.Add(time.Duration(minute)*time.Minute + time.Duration(sec)*time.Second)
		return &v
	}
	for _, r := range []struct {
		id        string
		status    wire.Status
		created   *time.Time
		published *time.Time
		completed *time.Time
		updated   *time.Time
	}{
		{"w-1", wire.StatusWaitingConfirm, at(0, 0), nil, nil, at(0, 0)},
		{"w-2", wire.StatusWaitingConfirm, at(0, 59), nil, nil, at(0, 59)},
		{"dead", wire.StatusDead, at(0, 30), at(0, 31), nil, at(0, 50)},
		{"delivered", wire.StatusDelivered, at(-5, 0), at(2, 0), nil, at(2, 0)},
		{"c-1", wire.StatusCompleted, at(2, 10), at(2, 11), at(2, 12), at(2, 12)},
		{"c-2", wire.StatusCompleted, at(-90, 0), at(-89, 0), at(2, 59), at(2, 59)},
		// A minute after the window of three.
		{"late", wire.StatusCompleted, at(3, 0), at(3, 0), at(3, 0), at(3, 0)},
	} {
		m := newMessage(r.id, *r.created)
		m.Status, m.PublishedAt, m.CompletedAt, m.UpdatedAt = r.status, r.published, r.completed, *r.updated
		_, err := s.Insert(t.Context(), m)
		require.NoError(t, err)
	}
}

func TestFlowsPerMinute(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		trendMessages(t, s, t0)
		flows, err := s.FlowsPerMinute(t.Context(), t0.Add(25*time.Second), 3)
		require.NoError(t, err)
		require.Equal(t, []store.Flow{
			{Prepared: 3, Published: 1, Dead: 1},
			{},
			{Prepared: 1, Published: 2, Completed: 2},
		}, flows)
	})
}

func TestSampleMinute(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		trendMessages(t, s, t0)

		written, err := s.SampleMinute(ctx, t0.Add(2*time.Minute+30*time.Second))
		require.NoError(t, err)
		require.True(t, written)
		// A second gateway sampling the same minute, after the backlog
		// moved on, writes nothing: the first sample stands.
		require.NoError(t, s.DB().Exec("UPDATE messages SET status = ? WHERE id = ?", wire.StatusCancelled, "w-1").Error)
		written, err = s.SampleMinute(ctx, t0.Add(2*time.Minute))
		require.NoError(t, err)
		require.False(t, written)

		samples, err := s.Samples(ctx, t0, 4)
		require.NoError(t, err)
		require.Len(t, samples, 4)
		require.Nil(t, samples[0], "a minute nobody sampled is a gap")
		require.Nil(t, samples[1])
		require.Nil(t, samples[3])
		require.Equal(t, &store.Sample{
			Flow: store.Flow{Prepared: 1, Published: 2, Completed: 2},
			Backlog: map[wire.Status]int64{
				wire.StatusWaitingConfirm: 2, wire.StatusCheckExhausted: 0, wire.StatusScheduled: 0,
				wire.StatusSending: 0, wire.StatusDelivered: 1, wire.StatusDead: 1,
			},
		}, samples[2])

		// Samples older than the retention go when a later minute is sampled.
		_, err = s.SampleMinute(ctx, t0)
		require.NoError(t, err)
		_, err = s.SampleMinute(ctx, t0.Add(store.TrendRetention+time.Minute))
		require.NoError(t, err)
		samples, err = s.Samples(ctx, t0, 4)
		require.NoError(t, err)
		require.Nil(t, samples[0], "past the retention")
		require.NotNil(t, samples[2], "within the retention")
	})
}
