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

// TestPurgeSettled deletes only the settled messages older than the cutoff,
// a batch at a time; DEAD, CHECK_EXHAUSTED and open messages stay however
// old they are.
func TestPurgeSettled(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		cutoff := time.Now().Add(-30 * 24 * time.Hour)
		old, recent := cutoff.Add(-time.Hour), cutoff.Add(time.Hour)
		keep := map[string]bool{}
		n := 0
		add := func(status wire.Status, updated time.Time, kept bool) {
			n++
			m := newMessage("p-"+string(status)+"-"+updated.Format("0102150405")+"-"+string(rune('a'+n)), updated.Add(-time.Hour))
			m.Status, m.UpdatedAt = status, updated
			_, err := s.Insert(ctx, m)
			require.NoError(t, err)
			keep[m.ID] = kept
		}
		for range 3 {
			add(wire.StatusCompleted, old, false)
			add(wire.StatusCancelled, old, false)
		}
		add(wire.StatusCompleted, recent, true)
		add(wire.StatusCancelled, recent, true)
		for _, st := range []wire.Status{wire.StatusDead, wire.StatusCheckExhausted, wire.StatusWaitingConfirm, wire.StatusDelivered, wire.StatusScheduled, wire.StatusSending} {
			add(st, old, true)
		}

		var batches []int64
		for {
			deleted, err := s.PurgeSettled(ctx, cutoff, 4)
			require.NoError(t, err)
			batches = append(batches, deleted)
			if deleted < 4 {
				break
			}
		}
		require.Equal(t, []int64{4, 2}, batches)
		for id, kept := range keep {
			_, err := s.Get(ctx, id)
			if kept {
				require.NoError(t, err, id)
			} else {
				require.ErrorIs(t, err, models.ErrNotFound, id)
			}
		}
	})
}
