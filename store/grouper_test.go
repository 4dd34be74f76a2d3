package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

// outcome is one write's result through a Grouper.
type outcome struct {
	ok  bool
	err error
}

// queue gives g the writes and returns their outcomes once all have ended;
// while g's transactions are held they all wait in its queue, so that
// releasing them sends every one in one batch.
func queue(t *testing.T, g *store.Grouper, writes ...func() (bool, error)) []outcome {
	t.Helper()
	release := store.HoldTransactions(g)
	out := make([]outcome, len(writes))
	var wg sync.WaitGroup
	for i, w := range writes {
		wg.Go(func() {
			ok, err := w()
			out[i] = outcome{ok, err}
		})
	}
	// The gatherer holds the first write while it waits for a transaction.
	require.Eventually(t, func() bool { return store.Queued(g) == len(writes)-1 }, 10*time.Second, time.Millisecond)
	release()
	wg.Wait()
	return out
}

// TestGrouperKeepsEachWriteResult: writes run in one shared transaction give
// each the result it has alone: created, a duplicate, applied, stale, and a
// missing row's models.ErrNotFound; and the rows hold what they would.
func TestGrouperKeepsEachWriteResult(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		_, err := s.Insert(ctx, newMessage("old", epoch()))
		require.NoError(t, err)
		_, err = s.Apply(ctx, transition("old", 5))
		require.NoError(t, err)
		g := store.NewGrouper(s)
		t.Cleanup(g.Close)

		out := queue(t, g,
			func() (bool, error) { return g.Insert(ctx, newMessage("new-1", epoch())) },
			func() (bool, error) { return g.Insert(ctx, newMessage("new-2", epoch())) },
			func() (bool, error) { return g.Insert(ctx, newMessage("old", epoch())) },
			func() (bool, error) { return g.Apply(ctx, transition("old", 4)) },
		)
		require.Equal(t, []outcome{{ok: true}, {ok: true}, {ok: false}, {ok: false}}, out, "created, created, duplicate, stale")
		txs, writes := g.Shared()
		require.Equal(t, []int64{1, 4}, []int64{txs, writes}, "one transaction carried the four")

		out = queue(t, g,
			func() (bool, error) { return g.Apply(ctx, transition("new-1", 2)) },
			func() (bool, error) { return g.Apply(ctx, transition("old", 6)) },
		)
		require.Equal(t, []outcome{{ok: true}, {ok: true}}, out)
		requireTransition(t, s, transition("new-1", 2))
		requireTransition(t, s, transition("old", 6))
		got, err := s.Get(ctx, "new-2")
		require.NoError(t, err)
		require.Equal(t, int64(1), got.Revision)

		// A missing row is an error of its write alone.
		out = queue(t, g,
			func() (bool, error) { return g.Apply(ctx, transition("missing", 2)) },
			func() (bool, error) { return g.Apply(ctx, transition("new-2", 2)) },
		)
		require.ErrorIs(t, out[0].err, models.ErrNotFound)
		require.Equal(t, outcome{ok: true}, out[1])
		requireTransition(t, s, transition("new-2", 2))
	})
}

// TestGrouperFailingWriteCostsOthersNothing: a write that fails in a shared
// transaction rolls it back, and every other write of it is run again alone
// and succeeds; the failing one gets its own error.
func TestGrouperFailingWriteCostsOthersNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		g := store.NewGrouper(s)
		t.Cleanup(g.Close)
		bad := newMessage("bad", epoch())
		bad.CreatedAt = time.Time{}
		writes := []func() (bool, error){func() (bool, error) { return g.Insert(ctx, bad) }}
		for i := range 10 {
			writes = append(writes, func() (bool, error) { return g.Insert(ctx, newMessage(fmt.Sprintf("good-%d", i), epoch())) })
		}
		out := queue(t, g, writes...)
		require.ErrorContains(t, out[0].err, "created_at")
		for i, o := range out[1:] {
			require.Equal(t, outcome{ok: true}, o, "write %d", i+1)
			_, err := s.Get(ctx, fmt.Sprintf("good-%d", i))
			require.NoError(t, err)
		}
		txs, _ := g.Shared()
		require.Zero(t, txs, "the shared transaction did not commit")
	})
}

// TestGrouperLockedRowHoldsOnlyItsOwnWrite: on MySQL, a write blocked by a
// row lock another transaction holds ends its batch by its own deadline; the
// other writes of the batch then run alone and succeed, well within theirs.
func TestGrouperLockedRowHoldsOnlyItsOwnWrite(t *testing.T) {
	t.Parallel()
	s := storetest.NewMySQL(t)
	ctx := t.Context()
	for _, id := range []string{"locked", "free"} {
		_, err := s.Insert(ctx, newMessage(id, epoch()))
		require.NoError(t, err)
	}
	lock := s.DB().WithContext(ctx).Begin()
	require.NoError(t, lock.Error)
	t.Cleanup(func() { lock.Rollback() })
	require.NoError(t, lock.Exec("SELECT id FROM messages WHERE id = ? FOR UPDATE", "locked").Error)

	g := store.NewGrouper(s)
	t.Cleanup(g.Close)
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	long, cancelLong := context.WithTimeout(ctx, time.Minute)
	defer cancelLong()
	var freeDone time.Duration
	start := time.Now()
	out := queue(t, g,
		func() (bool, error) { return g.Apply(short, transition("locked", 2)) },
		func() (bool, error) {
			ok, err := g.Apply(long, transition("free", 2))
			freeDone = time.Since(start)
			return ok, err
		},
	)
	require.ErrorIs(t, out[0].err, context.DeadlineExceeded)
	require.Equal(t, outcome{ok: true}, out[1])
	require.Less(t, freeDone, 30*time.Second, "the free row's write waited for the lock far past its batch's deadline")
	requireTransition(t, s, transition("free", 2))
	require.NoError(t, lock.Rollback().Error)
	got, err := s.Get(ctx, "locked")
	require.NoError(t, err)
	require.Equal(t, int64(1), got.Revision, "the locked row's write never committed")
}

// TestGrouperClose: writes taken before Close end (committed or with an
// error, none left waiting) and every one reported a success is in the
// table; writes after Close are refused with ErrGrouperClosed.
func TestGrouperClose(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		g := store.NewGrouper(s)
		var wg sync.WaitGroup
		var mu sync.Mutex
		created := map[string]bool{}
		for i := range 200 {
			wg.Go(func() {
				id := fmt.Sprintf("m-%d", i)
				ok, err := g.Insert(ctx, newMessage(id, epoch()))
				if err != nil {
					require.ErrorIs(t, err, store.ErrGrouperClosed)
					return
				}
				require.True(t, ok)
				mu.Lock()
				created[id] = true
				mu.Unlock()
			})
		}
		time.Sleep(5 * time.Millisecond)
		g.Close()
		wg.Wait()
		for id := range created {
			_, err := s.Get(ctx, id)
			require.NoError(t, err, id)
		}
		_, err := g.Insert(ctx, newMessage("late", epoch()))
		require.ErrorIs(t, err, store.ErrGrouperClosed)
	})
}

// TestGrouperDatabaseGone: with the database gone every write fails
// promptly with the database's error; none waits for a deadline.
func TestGrouperDatabaseGone(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		g := store.NewGrouper(s)
		t.Cleanup(g.Close)
		require.NoError(t, s.Close())
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		writes := make([]func() (bool, error), 8)
		for i := range writes {
			writes[i] = func() (bool, error) { return g.Insert(ctx, newMessage(fmt.Sprintf("m-%d", i), epoch())) }
		}
		for i, o := range queue(t, g, writes...) {
			require.Error(t, o.err, "write %d", i)
			require.False(t, errors.Is(o.err, context.DeadlineExceeded), "write %d waited for its deadline: %v", i, o.err)
		}
	})
}
