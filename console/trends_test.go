package console_test

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
)

// trendScene is what trendMessages put in the mirror: the minutes (UTC,
// whole) their times fall in.
type trendScene struct {
	// Prepared holds 3 created messages, still WAITING_CONFIRM; it is
	// sampled, with the backlog 3 WAITING_CONFIRM and 1 DEAD.
	Prepared time.Time
	// Settled holds 2 messages published and completed and 1 that went
	// DEAD, all created three hours before.
	Settled time.Time
}

// trendMessages writes mirror rows in known states at known times of the
// last hour, and samples one minute as a gateway's sampler would.
func trendMessages(t *testing.T, s *site) trendScene {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Minute)
	sc := trendScene{Prepared: now.Add(-20 * time.Minute), Settled: now.Add(-10 * time.Minute)}
	long := now.Add(-3 * time.Hour)
	insert := func(id string, status wire.Status, created time.Time, published, completed *time.Time, updated time.Time) {
		_, err := s.stack.Store.Insert(ctx, &models.Message{
			ID: id, Topic: topic, Payload: []byte(`{}`), Status: status,
			CreatedAt: created, PublishedAt: published, CompletedAt: completed, UpdatedAt: updated, Revision: 1,
		})
		require.NoError(t, err)
	}
	for i := range 3 {
		at := sc.Prepared.Add(time.Duration(10+i*20) * time.Second)
		insert(fmt.Sprintf("trend-waiting-%d", i), wire.StatusWaitingConfirm, at, nil, nil, at)
	}
	for i := range 2 {
		at := sc.Settled.Add(time.Duration(5+i) * time.Second)
		insert(fmt.Sprintf("trend-done-%d", i), wire.StatusCompleted, long, &at, &at, at)
	}
	dead := sc.Settled.Add(30 * time.Second)
	insert("trend-dead", wire.StatusDead, long, &long, nil, dead)

	written, err := s.stack.Store.SampleMinute(ctx, sc.Prepared)
	require.NoError(t, err)
	require.True(t, written)
	return sc
}

// chartColumn is a chart column's numbers as the page has them.
type chartColumn struct {
	N     string
	Title string
	Gap   bool
}

var columnPattern = regexp.MustCompile(`<g data-at="([^"]+)" data-n="(\d+)"><title>([^<]*)</title><rect class="(gap|hit)"`)

// chartColumns reads the columns of the chart id from an overview page,
// by the RFC 3339 time of their start.
func chartColumns(t *testing.T, page, id string) map[string]chartColumn {
	t.Helper()
	start := strings.Index(page, `<figure class="chart" id="`+id+`">`)
	require.NotEqual(t, -1, start, "no chart %s", id)
	fig := page[start:]
	fig = fig[:strings.Index(fig, "</figure>")]
	require.Contains(t, fig, "<svg ")
	cols := map[string]chartColumn{}
	for _, m := range columnPattern.FindAllStringSubmatch(fig, -1) {
		cols[m[1]] = chartColumn{N: m[2], Title: m[3], Gap: m[4] == "gap"}
	}
	return cols
}

// TestOverviewTrends reads the overview's SVG charts and checks their
// per-minute figures against the messages the mirror holds, the gaps
// where no minute was sampled, and the totals.
func TestOverviewTrends(t *testing.T) {
	t.Parallel()
	s := newSite(t, nil)
	sc := trendMessages(t, s)

	resp, err := http.Get(s.url + "/console/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	page := string(body)

	key := func(m time.Time) string { return m.Format(time.RFC3339) }
	hm := func(m time.Time) string { return m.Format("15:04") + " UTC" }
	prepared := chartColumns(t, page, "trend-hour-prepared")
	require.Len(t, prepared, 60)
	require.Equal(t, chartColumn{N: "3", Title: hm(sc.Prepared) + ": 3 prepared or sent"}, prepared[key(sc.Prepared)])
	require.Equal(t, chartColumn{N: "0", Title: hm(sc.Settled) + ": 0 prepared or sent"}, prepared[key(sc.Settled)])
	published := chartColumns(t, page, "trend-hour-published")
	require.Equal(t, chartColumn{N: "2", Title: hm(sc.Settled) + ": 2 published"}, published[key(sc.Settled)])
	completed := chartColumns(t, page, "trend-hour-completed")
	require.Equal(t, chartColumn{N: "2", Title: hm(sc.Settled) + ": 2 completed"}, completed[key(sc.Settled)])
	dead := chartColumns(t, page, "trend-hour-dead")
	require.Equal(t, chartColumn{N: "1", Title: hm(sc.Settled) + ": 1 went DEAD"}, dead[key(sc.Settled)])

	// The backlog has history only where a minute was sampled.
	backlog := chartColumns(t, page, "trend-hour-backlog")
	require.Equal(t, chartColumn{N: "4", Title: hm(sc.Prepared) + ": backlog 4: 3 WAITING_CONFIRM, 1 DEAD"}, backlog[key(sc.Prepared)])
	next := sc.Prepared.Add(time.Minute)
	require.Equal(t, chartColumn{N: "0", Title: hm(next) + ": no sample (no gateway was running)", Gap: true}, backlog[key(next)])

	// The day is read from the samples, ten minutes a column.
	bucket := sc.Prepared.Truncate(10 * time.Minute)
	day := chartColumns(t, page, "trend-day-prepared")
	require.Len(t, day, 144)
	require.Equal(t, "3", day[key(bucket)].N)
	require.Contains(t, day[key(bucket)].Title, ": 3 prepared or sent (1 of 10 minutes sampled)")
	require.True(t, day[key(sc.Settled.Truncate(10*time.Minute))].Gap, "the settled minutes were never sampled")

	// The totals match the messages in the hour, and the last sample.
	totals := regexp.MustCompile(`<table class="counts" id="trend-hour-totals">[\s\S]*?</table>`).FindString(page)
	cells := regexp.MustCompile(`<td>(\d+)</td>`).FindAllStringSubmatch(totals, -1)
	var got []string
	for _, c := range cells {
		got = append(got, c[1])
	}
	// prepared, published, completed, went DEAD, then the backlog by status.
	require.Equal(t, []string{"3", "2", "2", "1", "3", "0", "0", "0", "0", "1"}, got)
}
