package store_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	mathrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

// epoch is the creation time the tests build their messages around.
func epoch() time.Time { return time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC) }

// newMessage is a freshly prepared message as the mirror activity first writes
// it: revision 1, waiting for the producer's confirm.
func newMessage(id string, createdAt time.Time) *models.Message {
	return &models.Message{
		ID:        id,
		Topic:     "orders",
		Key:       "customer-42",
		Payload:   []byte(`{"order":` + id + `}`),
		Headers:   map[string]string{"trace-id": "abc", "tenant": "eu-1"},
		Producer:  "shop",
		CheckURL:  "http://shop.internal/tx/" + id,
		Consumers: []string{"billing", "shipping"},
		Status:    wire.StatusWaitingConfirm,
		CreatedAt: createdAt,
		UpdatedAt: createdAt,
		StatusAt:  createdAt,
		Revision:  1,
	}
}

// transition is revision rev of message id; every field is derived from rev so
// the stored row shows which revision wrote it.
func transition(id string, rev int64) models.Transition {
	at := epoch().Add(time.Duration(rev) * time.Second)
	return models.Transition{
		ID:          id,
		Revision:    rev,
		Status:      wire.Statuses[int(rev)%len(wire.Statuses)],
		CheckCount:  int(rev),
		SendCount:   int(rev) * 2,
		LastError:   fmt.Sprintf("error of revision %d", rev),
		ConfirmedAt: &at,
		UpdatedAt:   at,
	}
}

// requireTransition asserts that the row of tr.ID holds exactly what tr wrote.
func requireTransition(t *testing.T, s *store.Store, tr models.Transition) {
	t.Helper()
	got, err := s.Get(t.Context(), tr.ID)
	require.NoError(t, err)
	require.Equal(t, tr.Revision, got.Revision)
	require.Equal(t, tr.Status, got.Status)
	require.Equal(t, tr.CheckCount, got.CheckCount)
	require.Equal(t, tr.SendCount, got.SendCount)
	require.Equal(t, tr.LastError, got.LastError)
	require.Equal(t, tr.ConfirmedAt, got.ConfirmedAt)
	require.Equal(t, tr.PublishedAt, got.PublishedAt)
	require.Equal(t, tr.CompletedAt, got.CompletedAt)
	require.Equal(t, tr.UpdatedAt, got.UpdatedAt)
}

func TestInsertAndDuplicate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		m := newMessage("m-1", epoch())
		deliverAt := epoch().Add(time.Hour)
		m.DeliverAt = &deliverAt

		created, err := s.Insert(ctx, m)
		require.NoError(t, err)
		require.True(t, created)

		dup := newMessage("m-1", epoch().Add(time.Minute))
		dup.Topic = "payments"
		dup.Status = wire.StatusSending
		created, err = s.Insert(ctx, dup)
		require.NoError(t, err)
		require.False(t, created, "a second insert of the same ID must report the existing row")

		got, err := s.Get(ctx, "m-1")
		require.NoError(t, err)
		require.Equal(t, m, got, "the duplicate insert must leave the first row untouched")
	})
}

func TestInsertNormalisesTimes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		tokyo := time.FixedZone("JST", 9*3600)
		created := time.Date(2026, 1, 2, 3, 4, 5, 123_456_789, tokyo)
		deliverAt := created.Add(90 * time.Minute)
		m := newMessage("m-times", created)
		m.DeliverAt = &deliverAt
		m.UpdatedAt = created.Add(time.Nanosecond)
		before := *m

		_, err := s.Insert(t.Context(), m)
		require.NoError(t, err)
		require.Equal(t, before, *m, "Insert must not modify the caller's message")

		got, err := s.Get(t.Context(), "m-times")
		require.NoError(t, err)
		want := time.Date(2026, 1, 1, 18, 4, 5, 123_000_000, time.UTC)
		require.Equal(t, want, got.CreatedAt)
		require.Equal(t, want, got.UpdatedAt)
		require.Equal(t, want.Add(90*time.Minute), *got.DeliverAt)
		require.Nil(t, got.ConfirmedAt)
	})
}

func TestInsertRejectsInvalidRows(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		tooLongID := newMessage(strings.Repeat("i", 129), epoch())
		tooLongTopic := newMessage("m-topic", epoch())
		tooLongTopic.Topic = strings.Repeat("t", 250)
		noCreatedAt := newMessage("m-created", time.Time{})
		for name, m := range map[string]*models.Message{
			"id too long": tooLongID, "topic too long": tooLongTopic, "no created_at": noCreatedAt,
		} {
			created, err := s.Insert(ctx, m)
			require.Error(t, err, name)
			require.False(t, created, name)
			_, err = s.Get(ctx, m.ID)
			require.ErrorIs(t, err, models.ErrNotFound, name)
		}

		maxWidths := newMessage(strings.Repeat("i", 128), epoch())
		maxWidths.Topic = strings.Repeat("ü", 249)
		created, err := s.Insert(ctx, maxWidths)
		require.NoError(t, err, "values at the column widths, counted in characters, fit")
		require.True(t, created)
	})
}

func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		payload := make([]byte, 1<<20+7)
		_, _ = rand.Read(payload)
		m := newMessage("m-big", epoch())
		m.Payload = payload

		_, err := s.Insert(t.Context(), m)
		require.NoError(t, err)
		got, err := s.Get(t.Context(), "m-big")
		require.NoError(t, err)
		require.True(t, bytes.Equal(payload, got.Payload), "1 MiB payload must round-trip byte for byte")
	})
}

func TestHeadersAndConsumersRoundTrip(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		full := newMessage("m-full", epoch())
		full.Headers = map[string]string{"trace-id": "0af7651916cd43dd", "émoji": "📦", "empty": "", `quote"d`: "a\nb"}
		full.Consumers = []string{"billing", "shipping", "audit"}
		bare := newMessage("m-bare", epoch())
		bare.Headers = nil
		bare.Consumers = nil
		bare.Payload = nil

		for _, m := range []*models.Message{full, bare} {
			_, err := s.Insert(ctx, m)
			require.NoError(t, err)
			got, err := s.Get(ctx, m.ID)
			require.NoError(t, err)
			require.Equal(t, m, got)
		}
	})
}

func TestApplyInOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		_, err := s.Insert(ctx, newMessage("m-1", epoch()))
		require.NoError(t, err)

		for rev := int64(2); rev <= 4; rev++ {
			tr := transition("m-1", rev)
			applied, err := s.Apply(ctx, tr)
			require.NoError(t, err)
			require.True(t, applied)
			requireTransition(t, s, tr)
		}

		got, err := s.Get(ctx, "m-1")
		require.NoError(t, err)
		require.Equal(t, "orders", got.Topic, "Apply must leave the immutable fields alone")
		require.Equal(t, epoch(), got.CreatedAt)
	})
}

func TestApplyOutOfOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		_, err := s.Insert(ctx, newMessage("m-1", epoch()))
		require.NoError(t, err)

		newer := transition("m-1", 5)
		applied, err := s.Apply(ctx, newer)
		require.NoError(t, err)
		require.True(t, applied)

		for _, rev := range []int64{3, 5, 1} {
			applied, err := s.Apply(ctx, transition("m-1", rev))
			require.NoError(t, err)
			require.False(t, applied, "revision %d arrives after 5 and must be ignored", rev)
		}
		requireTransition(t, s, newer)
	})
}

// TestApplyOrdersOneTaskPartByTime follows a workflow task lost in a crash
// of the Temporal server and the task that replaced it at the same history
// length (models.RevisionTaskShift): the lost task wrote DELIVERED as its
// twelfth transition, the replacement, which had a complete to act on as
// well, COMPLETED as its eleventh, later. The replacement's row must win.
func TestApplyOrdersOneTaskPartByTime(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		_, err := s.Insert(ctx, newMessage("m-1", epoch()))
		require.NoError(t, err)
		write := func(task, n int64, at time.Duration, status wire.Status) models.Transition {
			tr := transition("m-1", task<<models.RevisionTaskShift+n)
			tr.Status = status
			tr.UpdatedAt = epoch().Add(at)
			return tr
		}
		apply := func(tr models.Transition) bool {
			t.Helper()
			applied, err := s.Apply(ctx, tr)
			require.NoError(t, err)
			return applied
		}

		lost := write(40, 12, 10*time.Second, wire.StatusDelivered)
		require.True(t, apply(lost))
		replacement := write(40, 11, 20*time.Second, wire.StatusCompleted)
		require.True(t, apply(replacement), "the replacement started after the lost task: its write wins")
		requireTransition(t, s, replacement)
		require.False(t, apply(lost), "the lost task's write, retried late, must not undo the replacement's")

		require.False(t, apply(write(40, 10, 20*time.Second, wire.StatusSending)),
			"at the same time, a lower counter is an earlier transition of the same task")
		require.False(t, apply(write(39, 50, 30*time.Second, wire.StatusDead)),
			"an earlier task loses whatever its time")
		requireTransition(t, s, replacement)

		later := write(41, 1, 5*time.Second, wire.StatusDead)
		require.True(t, apply(later), "a later task wins whatever its time")
		requireTransition(t, s, later)
	})
}

func TestApplyIsFullSnapshot(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		_, err := s.Insert(ctx, newMessage("m-1", epoch()))
		require.NoError(t, err)

		published := epoch().Add(time.Minute)
		withTimes := transition("m-1", 2)
		withTimes.PublishedAt = &published
		withTimes.CompletedAt = &published
		_, err = s.Apply(ctx, withTimes)
		require.NoError(t, err)
		requireTransition(t, s, withTimes)

		cleared := transition("m-1", 3)
		cleared.ConfirmedAt = nil
		cleared.LastError = ""
		_, err = s.Apply(ctx, cleared)
		require.NoError(t, err)
		requireTransition(t, s, cleared)
	})
}

func TestApplyFitsLongErrors(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		_, err := s.Insert(ctx, newMessage("m-1", epoch()))
		require.NoError(t, err)

		tr := transition("m-1", 2)
		tr.LastError = strings.Repeat("kafka: é ", 1000) + "\xff"
		applied, err := s.Apply(ctx, tr)
		require.NoError(t, err, "an error text longer than the column must not fail the mirror")
		require.True(t, applied)

		got, err := s.Get(ctx, "m-1")
		require.NoError(t, err)
		require.Equal(t, string([]rune(tr.LastError)[:2048]), got.LastError)
	})
}

func TestApplyConcurrentEndsAtMaxRevision(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		const maxRev, workers = 120, 6
		_, err := s.Insert(ctx, newMessage("m-1", epoch()))
		require.NoError(t, err)

		revs := mathrand.Perm(maxRev)
		var (
			mu      sync.Mutex
			applied int
		)
		var g errgroup.Group
		for w := range workers {
			g.Go(func() error {
				for i := w; i < len(revs); i += workers {
					rev := int64(revs[i] + 1)
					ok, err := s.Apply(ctx, transition("m-1", rev))
					if err != nil {
						return err
					}
					got, err := s.Get(ctx, "m-1")
					if err != nil {
						return err
					}
					if got.Revision < rev {
						return fmt.Errorf("after applying revision %d the row is at %d", rev, got.Revision)
					}
					if ok {
						mu.Lock()
						applied++
						mu.Unlock()
					}
				}
				return nil
			})
		}
		require.NoError(t, g.Wait())
		require.GreaterOrEqual(t, applied, 1)
		requireTransition(t, s, transition("m-1", maxRev))
	})
}

func TestApplyMissingRow(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		applied, err := s.Apply(t.Context(), transition("nope", 2))
		require.ErrorIs(t, err, models.ErrNotFound)
		require.False(t, applied)
	})
}

func TestGetUnknown(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		_, err := s.Get(t.Context(), "nope")
		require.ErrorIs(t, err, models.ErrNotFound)
	})
}

func TestCountByStatus(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		counts, err := s.CountByStatus(ctx)
		require.NoError(t, err)
		require.Len(t, counts, len(wire.Statuses))
		for st, n := range counts {
			require.Zero(t, n, st)
		}

		for i := range 6 {
			_, err := s.Insert(ctx, newMessage(fmt.Sprintf("m-%d", i), epoch()))
			require.NoError(t, err)
		}
		for i, st := range []wire.Status{wire.StatusDelivered, wire.StatusDelivered, wire.StatusDead} {
			tr := transition(fmt.Sprintf("m-%d", i), 2)
			tr.Status = st
			_, err := s.Apply(ctx, tr)
			require.NoError(t, err)
		}

		counts, err = s.CountByStatus(ctx)
		require.NoError(t, err)
		want := map[wire.Status]int64{}
		for _, st := range wire.Statuses {
			want[st] = 0
		}
		want[wire.StatusWaitingConfirm] = 3
		want[wire.StatusDelivered] = 2
		want[wire.StatusDead] = 1
		require.Equal(t, want, counts)
	})
}

func BenchmarkApplySQLite(b *testing.B) {
	s := storetest.NewSQLite(b)
	ctx := b.Context()
	_, err := s.Insert(ctx, newMessage("m-1", epoch()))
	require.NoError(b, err)
	rev := int64(1)
	for b.Loop() {
		rev++
		if _, err := s.Apply(ctx, transition("m-1", rev)); err != nil {
			b.Fatal(err)
		}
	}
}
