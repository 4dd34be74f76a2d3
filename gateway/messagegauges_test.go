package gateway

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store/storetest"
)

func TestMessageGauges(t *testing.T) {
	t.Parallel()
	s := storetest.NewSQLite(t)
	now := time.Now()
	for i, r := range []struct {
		status  wire.Status
		created time.Time
	}{
		{wire.StatusDead, now}, {wire.StatusDead, now}, {wire.StatusCheckExhausted, now},
		{wire.StatusWaitingConfirm, now.Add(-time.Hour)}, {wire.StatusWaitingConfirm, now},
	} {
		_, err := s.Insert(t.Context(), &models.Message{ID: "g-" + string(rune('a'+i)), Topic: "orders", Status: r.status, CreatedAt: r.created, UpdatedAt: r.created, Revision: 1})
		require.NoError(t, err)
	}
	g := newMessageGauges(s, 30*time.Second, slog.New(slog.DiscardHandler))
	// Every status has its gauge, zero or not.
	counts := map[wire.Status]int{wire.StatusCheckExhausted: 1, wire.StatusDead: 2, wire.StatusWaitingConfirm: 2}
	want := "\n# HELP courier_messages Messages in the mirror by status.\n# TYPE courier_messages gauge\n"
	for _, st := range slices.Sorted(slices.Values(wire.Statuses)) {
		want += fmt.Sprintf("courier_messages{status=%q} %d\n", st, counts[st])
	}
	want += `# HELP courier_messages_waiting_past_first_check WAITING_CONFIRM messages older than the first check-back: producers that neither confirm nor cancel.
# TYPE courier_messages_waiting_past_first_check gauge
courier_messages_waiting_past_first_check 1
`
	require.NoError(t, testutil.CollectAndCompare(g, strings.NewReader(want)))

	// A scrape within the cache period costs no query.
	_, err := s.Insert(t.Context(), &models.Message{ID: "g-late", Topic: "orders", Status: wire.StatusDead, CreatedAt: now, UpdatedAt: now, Revision: 1})
	require.NoError(t, err)
	require.NoError(t, testutil.CollectAndCompare(g, strings.NewReader(want), "courier_messages"))
	g.at = time.Time{}
	require.NoError(t, testutil.CollectAndCompare(g, strings.NewReader(strings.Replace(want, `status="DEAD"} 2`, `status="DEAD"} 3`, 1)), "courier_messages"))
}
