package store_test

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

// listIDs lists f and returns the IDs of the single page, asserting it is the last.
func listIDs(t *testing.T, s *store.Store, f store.Filter) []string {
	t.Helper()
	page, err := s.List(t.Context(), f)
	require.NoError(t, err)
	require.Empty(t, page.NextCursor)
	ids := []string{}
	for _, m := range page.Messages {
		ids = append(ids, m.ID)
	}
	return ids
}

// walk pages through f with the given page size and returns every ID in order.
// between runs after each page, so a test can write while a client pages.
func walk(t *testing.T, s *store.Store, f store.Filter, between func()) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		require.Less(t, pages, 1000, "pagination does not end")
		page, err := s.List(t.Context(), f)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Messages), f.Limit)
		for _, m := range page.Messages {
			ids = append(ids, m.ID)
		}
		if page.NextCursor == "" {
			return ids
		}
		require.Len(t, page.Messages, f.Limit, "only the last page may be short")
		f.Cursor = page.NextCursor
		between()
	}
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		t0 := epoch()
		rows := []struct {
			id, topic, producer string
			status              wire.Status
			at                  time.Duration
		}{
			{"a", "orders", "shop", wire.StatusWaitingConfirm, 0},
			{"b", "orders", "billing", wire.StatusDelivered, time.Second},
			{"c", "payments", "shop", wire.StatusDelivered, 2 * time.Second},
			{"d", "payments", "billing", wire.StatusDead, 3 * time.Second},
			{"e", "orders", "shop", wire.StatusDelivered, 4 * time.Second},
		}
		for _, r := range rows {
			m := newMessage(r.id, t0.Add(r.at))
			m.Topic, m.Producer, m.Status = r.topic, r.producer, r.status
			_, err := s.Insert(ctx, m)
			require.NoError(t, err)
		}

		cases := []struct {
			name   string
			filter store.Filter
			want   []string
		}{
			{"none", store.Filter{}, []string{"e", "d", "c", "b", "a"}},
			{"status", store.Filter{Status: wire.StatusDelivered}, []string{"e", "c", "b"}},
			{"topic", store.Filter{Topic: "orders"}, []string{"e", "b", "a"}},
			{"producer", store.Filter{Producer: "shop"}, []string{"e", "c", "a"}},
			{"from inclusive", store.Filter{CreatedFrom: t0.Add(time.Second)}, []string{"e", "d", "c", "b"}},
			{"to exclusive", store.Filter{CreatedTo: t0.Add(3 * time.Second)}, []string{"c", "b", "a"}},
			{"from and to", store.Filter{CreatedFrom: t0.Add(time.Second), CreatedTo: t0.Add(3 * time.Second)}, []string{"c", "b"}},
			{"sub-millisecond from before a row", store.Filter{CreatedFrom: t0.Add(time.Second - 500*time.Microsecond)}, []string{"e", "d", "c", "b"}},
			{"sub-millisecond from after a row", store.Filter{CreatedFrom: t0.Add(time.Second + 500*time.Microsecond)}, []string{"e", "d", "c"}},
			{"sub-millisecond to after a row", store.Filter{CreatedTo: t0.Add(time.Second + 500*time.Microsecond)}, []string{"b", "a"}},
			{"from in another zone", store.Filter{CreatedFrom: t0.Add(3 * time.Second).In(time.FixedZone("X", -7*3600))}, []string{"e", "d"}},
			{"status topic producer", store.Filter{Status: wire.StatusDelivered, Topic: "orders", Producer: "shop"}, []string{"e"}},
			{"topic and window", store.Filter{Topic: "orders", CreatedTo: t0.Add(4 * time.Second)}, []string{"b", "a"}},
			{"status and producer", store.Filter{Status: wire.StatusDelivered, Producer: "billing"}, []string{"b"}},
			{"no match", store.Filter{Topic: "unknown"}, []string{}},
		}
		for _, tc := range cases {
			require.Equal(t, tc.want, listIDs(t, s, tc.filter), tc.name)
		}
	})
}

func TestListIDPrefix(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		t0 := epoch()
		for i, r := range []struct{ id, status string }{{"ord-1", "WAITING_CONFIRM"}, {"ord-2", "DEAD"}, {"ORD-3", "DEAD"}, {"orc", "DEAD"}, {"ord", "DEAD"}, {"ore", "DEAD"}} {
			m := newMessage(r.id, t0.Add(time.Duration(i)*time.Second))
			m.Status = wire.Status(r.status)
			_, err := s.Insert(t.Context(), m)
			require.NoError(t, err)
		}
		// Byte for byte on both backends: SQLite's LIKE would also match
		// ORD-3.
		require.Equal(t, []string{"ord", "ord-2", "ord-1"}, listIDs(t, s, store.Filter{IDPrefix: "ord"}))
		require.Equal(t, []string{"ord-2"}, listIDs(t, s, store.Filter{IDPrefix: "ord-", Status: wire.StatusDead}))
		require.Equal(t, []string{}, listIDs(t, s, store.Filter{IDPrefix: "x"}))
	})
}

func TestListPaginationVisitsEveryRowOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		// 23 messages over 6 distinct creation times, so pages split groups of
		// rows that share created_at; inserted in random order.
		type row struct {
			id     string
			at     time.Time
			status wire.Status
		}
		var rows []row
		for i := range 23 {
			r := row{fmt.Sprintf("m-%02d", i), epoch().Add(time.Duration(i/4) * time.Millisecond), wire.StatusWaitingConfirm}
			if i%3 == 0 {
				r.status = wire.StatusDelivered
			}
			rows = append(rows, r)
		}
		for _, i := range rand.Perm(len(rows)) {
			m := newMessage(rows[i].id, rows[i].at)
			m.Status = rows[i].status
			_, err := s.Insert(ctx, m)
			require.NoError(t, err)
		}
		slices.SortFunc(rows, func(a, b row) int {
			if c := b.at.Compare(a.at); c != 0 {
				return c
			}
			return strings.Compare(b.id, a.id)
		})
		var all, delivered []string
		for _, r := range rows {
			all = append(all, r.id)
			if r.status == wire.StatusDelivered {
				delivered = append(delivered, r.id)
			}
		}

		for _, limit := range []int{1, 3, 4, 22, 23, 24} {
			got := walk(t, s, store.Filter{Limit: limit}, func() {})
			require.Equal(t, all, got, "limit %d", limit)
			got = walk(t, s, store.Filter{Limit: limit, Status: wire.StatusDelivered}, func() {})
			require.Equal(t, delivered, got, "limit %d, status filter", limit)
		}

		// Rows created while a client pages are newer than its cursor: the walk
		// still sees each original row exactly once.
		n := 0
		got := walk(t, s, store.Filter{Limit: 5}, func() {
			n++
			_, err := s.Insert(ctx, newMessage(fmt.Sprintf("new-%d", n), epoch().Add(time.Hour)))
			require.NoError(t, err)
		})
		require.Equal(t, all, got)
	})
}

func TestListLimit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		for i := range 501 {
			_, err := s.Insert(t.Context(), newMessage(fmt.Sprintf("m-%03d", i), epoch().Add(time.Duration(i)*time.Millisecond)))
			require.NoError(t, err)
		}

		for _, tc := range []struct{ limit, want int }{{0, 50}, {-3, 50}, {7, 7}, {500, 500}, {501, 500}, {100000, 500}} {
			page, err := s.List(t.Context(), store.Filter{Limit: tc.limit})
			require.NoError(t, err)
			require.Len(t, page.Messages, tc.want, "limit %d", tc.limit)
			require.NotEmpty(t, page.NextCursor, "limit %d", tc.limit)
		}
	})
}

func TestListBadCursor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		for _, c := range []string{"not base64!", enc("no separator"), enc("soon:m-1"), enc("1700000000000:"), "===="} {
			_, err := s.List(t.Context(), store.Filter{Cursor: c})
			require.ErrorIs(t, err, store.ErrBadCursor, "cursor %q", c)
		}
	})
}

// TestListKey finds messages by their exact key, byte for byte, alone and
// with the other filters, on every backend.
func TestListKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		t0 := epoch()
		long := strings.Repeat("k", 300) // past MySQL's 255-character index prefix
		for i, r := range []struct{ id, key, status string }{
			{"a", "order-17", "DEAD"}, {"b", "order-17", "DELIVERED"}, {"c", "ORDER-17", "DEAD"},
			{"d", "order-170", "DEAD"}, {"e", long + "x", "DEAD"}, {"f", long + "y", "DEAD"}, {"g", "", "DEAD"},
		} {
			m := newMessage(r.id, t0.Add(time.Duration(i)*time.Second))
			m.Key, m.Status = r.key, wire.Status(r.status)
			_, err := s.Insert(t.Context(), m)
			require.NoError(t, err)
		}
		require.Equal(t, []string{"b", "a"}, listIDs(t, s, store.Filter{Key: "order-17"}))
		require.Equal(t, []string{"a"}, listIDs(t, s, store.Filter{Key: "order-17", Status: wire.StatusDead}))
		require.Equal(t, []string{"c"}, listIDs(t, s, store.Filter{Key: "ORDER-17"}))
		require.Equal(t, []string{"f"}, listIDs(t, s, store.Filter{Key: long + "y"}))
		require.Equal(t, []string{}, listIDs(t, s, store.Filter{Key: "order-1"}))
		require.Equal(t, []string{}, listIDs(t, s, store.Filter{Key: "order-17", IDPrefix: "c"}))
	})
}
