package console_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestTrendsInABrowser opens the overview in a real headless Chromium: the
// trend charts are drawn (under the console's CSP, no script), their
// per-minute figures match the messages the test wrote, every page says as
// of when, and the auto-refresh links set the page's meta refresh, kept from
// page to page, while a made-up period sets none.
func TestTrendsInABrowser(t *testing.T) {
	t.Parallel()
	s := newSite(t, identities())
	sc := trendMessages(t, s)
	b := newBrowser(t)

	b.run(t, chromedp.Navigate(s.url+"/console/"), chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SetValue(chromedp.CSS("#key"), adminKey), chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("#trend-hour-prepared svg")))
	b.screenshot(t, os.Getenv("COURIER_CONSOLE_SCREENSHOTS"), "console-trends.png")

	// Every chart is drawn and has a width on the page.
	for _, id := range []string{"prepared", "published", "completed", "dead", "backlog"} {
		for _, w := range []string{"hour", "day"} {
			width := get(t, b, chromedp.Evaluate[float64](`document.querySelector("#trend-`+w+`-`+id+` svg").getBoundingClientRect().width`))
			require.Greater(t, width, 200.0, "#trend-%s-%s", w, id)
		}
	}
	title := func(chart string, m time.Time) string {
		t.Helper()
		return get(t, b, chromedp.Evaluate[string](`document.querySelector('#`+chart+` g[data-at="`+m.Format(time.RFC3339)+`"] title').textContent`))
	}
	hm := m2s(sc.Prepared)
	require.Equal(t, hm+": 3 prepared or sent", title("trend-hour-prepared", sc.Prepared))
	require.Equal(t, m2s(sc.Settled)+": 2 published", title("trend-hour-published", sc.Settled))
	require.Equal(t, m2s(sc.Settled)+": 2 completed", title("trend-hour-completed", sc.Settled))
	require.Equal(t, m2s(sc.Settled)+": 1 went DEAD", title("trend-hour-dead", sc.Settled))
	require.Equal(t, hm+": backlog 4: 3 WAITING_CONFIRM, 1 DEAD", title("trend-hour-backlog", sc.Prepared))
	// The bars' heights follow the figures: the 3 prepared fill the plot.
	bar := func(chart, class string, m time.Time) float64 {
		return get(t, b, chromedp.Evaluate[float64](`document.querySelector('#`+chart+` g[data-at="`+m.Format(time.RFC3339)+`"] rect.`+class+`').getBoundingClientRect().height`))
	}
	full := bar("trend-hour-prepared", "s-prepared", sc.Prepared)
	require.Positive(t, full)
	require.InDelta(t, full*3/4, bar("trend-hour-backlog", "s-WAITING_CONFIRM", sc.Prepared), 1, "3 of a backlog of 4")
	// prepared, published, completed, went DEAD, then the backlog by status.
	require.Equal(t, "3 2 2 1 3 0 0 0 0 1", get(t, b, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("#trend-hour-totals td"), td => td.textContent).join(" ")`)))

	// As of when, on every page.
	asOf := regexp.MustCompile(`^as of (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC`)
	for _, path := range []string{"/console/", "/console/messages", "/console/messages/trend-dead", "/console/audit", "/console/access"} {
		b.run(t, chromedp.Navigate(s.url+path), chromedp.WaitVisible(chromedp.CSS("#as-of")))
		text := strings.Join(strings.Fields(get(t, b, chromedp.Evaluate[string](`document.querySelector(".as-of").textContent`))), " ")
		m := asOf.FindStringSubmatch(text)
		require.NotNil(t, m, "%s: %q", path, text)
		at, err := time.Parse("2006-01-02 15:04:05", m[1])
		require.NoError(t, err)
		require.WithinDuration(t, time.Now(), at, time.Minute, path)
	}

	// Auto-refresh: off until chosen; the link sets it and the next
	// watched page keeps it; pages with forms never refresh.
	refresh := func() string {
		return get(t, b, chromedp.Evaluate[string](`(document.querySelector('meta[http-equiv="refresh"]') || {content: "none"}).content`))
	}
	b.run(t, chromedp.Navigate(s.url+"/console/"), chromedp.WaitVisible(chromedp.CSS("#refresh")))
	require.Equal(t, "none", refresh())
	b.run(t, chromedp.Click(chromedp.CSS(`#refresh a[href$="refresh=30"]`)))
	b.waitLocation(t, "refresh=30")
	require.Equal(t, "30", refresh())
	require.Contains(t, get(t, b, chromedp.Evaluate[string](`document.querySelector("#refresh").textContent`)), "auto-refresh: off 10 s 30 s 60 s")
	b.run(t, chromedp.Navigate(s.url+"/console/audit"), chromedp.WaitVisible(chromedp.CSS("#as-of")))
	require.Equal(t, "30", refresh(), "the choice holds on the next page")
	b.run(t, chromedp.Navigate(s.url+"/console/messages"), chromedp.WaitVisible(chromedp.CSS("#filters")))
	require.Equal(t, "none", refresh(), "a page with a form never refreshes")
	b.run(t, chromedp.Navigate(s.url+"/console/?refresh=7"), chromedp.WaitVisible(chromedp.CSS("#refresh")))
	require.Equal(t, "none", refresh(), "7 s is not a period the console offers")
	b.run(t, chromedp.Navigate(s.url+"/console/"), chromedp.WaitVisible(chromedp.CSS("#refresh")))
	require.Equal(t, "none", refresh(), "an invalid choice turns it off")
}

// m2s is a minute as the charts' tooltips name it.
func m2s(m time.Time) string { return m.Format("15:04") + " UTC" }
