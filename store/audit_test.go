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

// TestAuditSearchFilters: each filter of the audit log keeps exactly the
// entries it names, alone, combined and across pages, on every backend.
func TestAuditSearchFilters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
		out := func(ids ...string) []models.AuditOutcome {
			o := make([]models.AuditOutcome, len(ids))
			for i, id := range ids {
				o[i] = models.AuditOutcome{ID: id, Disposition: wire.Applied}
			}
			return o
		}
		entries := []models.AuditEntry{
			{By: "ann", Action: models.Cancel, Outcomes: out("m-1")},
			{By: "bob", Action: models.Redrive, Topic: "orders", Outcomes: out("m-2", "m-3")},
			{By: "ann", Action: models.Redrive, Outcomes: out("m-3", "m-3")},
			{By: "bob", Action: models.Confirm, Outcomes: out("m-10")},
			{By: "ann", Action: models.Redrive, Topic: "orders"},
		}
		ids := make([]int64, len(entries))
		for i := range entries {
			entries[i].At = t0.Add(time.Duration(i) * time.Minute)
			require.NoError(t, s.Audit(ctx, &entries[i]))
			ids[i] = entries[i].ID
		}
		search := func(f store.AuditFilter) []int64 {
			t.Helper()
			if f.Limit == 0 {
				f.Limit = 10
			}
			got, err := s.AuditSearch(ctx, f)
			require.NoError(t, err)
			found := []int64{}
			for _, e := range got {
				found = append(found, e.ID)
			}
			return found
		}
		cases := []struct {
			name   string
			filter store.AuditFilter
			want   []int64
		}{
			{"none", store.AuditFilter{}, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}},
			{"by", store.AuditFilter{By: "bob"}, []int64{ids[3], ids[1]}},
			{"action", store.AuditFilter{Action: models.Redrive}, []int64{ids[4], ids[2], ids[1]}},
			{"message", store.AuditFilter{MessageID: "m-3"}, []int64{ids[2], ids[1]}},
			{"message exactly", store.AuditFilter{MessageID: "m-1"}, []int64{ids[0]}},
			{"from inclusive", store.AuditFilter{From: t0.Add(3 * time.Minute)}, []int64{ids[4], ids[3]}},
			{"to exclusive", store.AuditFilter{To: t0.Add(time.Minute)}, []int64{ids[0]}},
			{"by action message", store.AuditFilter{By: "ann", Action: models.Redrive, MessageID: "m-3"}, []int64{ids[2]}},
			{"by and window", store.AuditFilter{By: "ann", From: t0.Add(time.Minute), To: t0.Add(4 * time.Minute)}, []int64{ids[2]}},
			{"page", store.AuditFilter{Action: models.Redrive, Limit: 2}, []int64{ids[4], ids[2]}},
			{"next page", store.AuditFilter{Action: models.Redrive, Limit: 2, Before: ids[2]}, []int64{ids[1]}},
			{"no match", store.AuditFilter{MessageID: "m-4"}, []int64{}},
		}
		for _, tc := range cases {
			require.Equal(t, tc.want, search(tc.filter), tc.name)
		}
		_, err := s.AuditSearch(ctx, store.AuditFilter{})
		require.Error(t, err, "a search without a page size")
	})
}
