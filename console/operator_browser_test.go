package console_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
)

// The mirror rows an operator filters: 30 old messages of topic "archive"
// created a minute apart from archiveStart, more than one page of the list,
// produced alternately by "legacy" and "batch".
const archiveRows = 30

var archiveStart = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)

// archive writes the archive rows straight into the mirror: the list reads
// only the mirror, and these need creation times no live message has.
func (s *site) archive(t *testing.T) {
	t.Helper()
	for i := range archiveRows {
		at := archiveStart.Add(time.Duration(i) * time.Minute)
		m := &models.Message{
			ID: fmt.Sprintf("arch-%02d", i), Topic: "archive", Key: fmt.Sprintf("archive-%d", i),
			Payload: []byte(`{}`), Producer: []string{"legacy", "batch"}[i%2],
			Status: wire.StatusCompleted, CreatedAt: at, UpdatedAt: at, Revision: 1,
		}
		if i == 7 {
			m.Key = "order-1001" // the same key as a live message, on another topic
		}
		_, err := s.stack.Store.Insert(context.Background(), m)
		require.NoError(t, err)
	}
}

// startAll prepares (or sends, for DEAD) every id with the short policy of
// exhausted or dead, and waits until each is in want: their timers run side
// by side.
func (s *site) startAll(t *testing.T, want wire.Status, keys map[string]string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		body := map[string]any{"id": id, "topic": topic, "key": keys[id], "payload": map[string]any{"order": id}}
		path := "/v1/messages"
		switch want {
		case wire.StatusCheckExhausted:
			body["check_url"] = s.stack.Checks.URL
			body["policy"] = map[string]any{"check_delay": "1s", "check_max_delay": "1s", "check_max_attempts": 1, "check_timeout": "1s"}
		case wire.StatusDead:
			path += "/send"
			body["policy"] = map[string]any{"resend_intervals": []string{"1s"}}
		}
		s.api(t, path, body)
	}
	for _, id := range ids {
		s.wait(t, id, want)
	}
}

// listed is the ids in the list page's table, in order.
func (b *browser) listed(t *testing.T) []string {
	t.Helper()
	return get(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#messages a[href^="/console/messages/"]')].map(a => a.textContent)`))
}

// filterList fills the list's filter form with fields (by input name),
// sends it, and returns the ids listed.
func (b *browser) filterList(t *testing.T, base string, fields map[string]string) []string {
	t.Helper()
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/console/messages"), chromedp.WaitVisible(chromedp.CSS("#filters"))}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		steps = append(steps, chromedp.SetValue(chromedp.CSS(`#filters [name="`+name+`"]`), fields[name]))
	}
	// The form sends every field, so the new page's URL has a query.
	b.run(t, append(steps, chromedp.Click(chromedp.CSS("#apply")))...)
	b.waitLocation(t, "/console/messages?")
	b.run(t, chromedp.WaitVisible(chromedp.CSS("#messages")))
	return b.listed(t)
}

// filterAudit is filterList for the audit log: it returns the entries'
// numbers.
func (b *browser) filterAudit(t *testing.T, base string, fields map[string]string) []string {
	t.Helper()
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/console/audit"), chromedp.WaitVisible(chromedp.CSS("#audit-filters"))}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		steps = append(steps, chromedp.SetValue(chromedp.CSS(`#audit-filters [name="`+name+`"]`), fields[name]))
	}
	b.run(t, append(steps, chromedp.Click(chromedp.CSS("#apply")))...)
	b.waitLocation(t, "/console/audit?")
	b.run(t, chromedp.WaitVisible(chromedp.CSS("#audit")))
	return b.auditNumbers(t)
}

func (b *browser) auditNumbers(t *testing.T) []string {
	t.Helper()
	return get(t, b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#audit tr td:first-child')].filter(td => td.colSpan == 1).map(td => td.textContent)`))
}

func prefixed(ids []string, prefix string) []string {
	var out []string
	for _, id := range ids {
		if strings.HasPrefix(id, prefix) {
			out = append(out, id)
		}
	}
	return out
}

// TestOperatorConsoleInABrowser is an on-call operator's session in a real
// headless Chromium: sign in; narrow the list by each filter (status, topic,
// producer, id prefix, key, creation time) and page through it; see how long
// a message has been in its status; confirm a CHECK_EXHAUSTED message and
// re-drive a DEAD one through their forms; re-drive and cancel selections
// of messages with one reason each; find each action again in the audit log
// by who, action, message and time, and page through it.
func TestOperatorConsoleInABrowser(t *testing.T) {
	t.Parallel()
	s := newSite(t, identities())
	s.archive(t)
	keys := map[string]string{"stuck-a": "order-1001", "stuck-b": "order-1002", "stuck-c": "order-1003"}
	s.startAll(t, wire.StatusCheckExhausted, keys, "stuck-a", "stuck-b", "stuck-c")
	s.startAll(t, wire.StatusDead, keys, "dead-a", "dead-b", "dead-c")
	// A message created three days ago that changed status two hours ago.
	now := time.Now().UTC()
	_, err := s.stack.Store.Insert(context.Background(), &models.Message{
		ID: "aged-1", Topic: "aging", Payload: []byte(`{}`), Status: wire.StatusCancelled,
		CreatedAt: now.Add(-72 * time.Hour), UpdatedAt: now.Add(-2*time.Hour - time.Minute), Revision: 1,
	})
	require.NoError(t, err)
	// Older operator actions, by someone else.
	for i, e := range []models.AuditEntry{
		{By: "night-shift", Action: models.Cancel, Reason: "old cancel", Outcomes: []models.AuditOutcome{{ID: "arch-01", Disposition: wire.Applied}}},
		{By: "night-shift", Action: models.Redrive, Reason: "old redrive", Outcomes: []models.AuditOutcome{{ID: "arch-02", Disposition: wire.Applied}}},
	} {
		e.At = archiveStart.Add(time.Duration(i) * 24 * time.Hour)
		require.NoError(t, s.stack.Store.Audit(context.Background(), &e))
	}

	b := newBrowser(t)
	b.run(t, chromedp.Navigate(s.url+"/console/messages"), chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SetValue(chromedp.CSS("#key"), adminKey), chromedp.Click(chromedp.CSS("#sign-in")), chromedp.WaitVisible(chromedp.CSS("#messages")))
	require.Contains(t, b.location(t), "/console/messages", "signing in leads back to the page asked for")

	// Each filter narrows the list to exactly the messages it names.
	require.ElementsMatch(t, []string{"dead-a", "dead-b", "dead-c"}, b.filterList(t, s.url, map[string]string{"status": "DEAD"}))
	require.ElementsMatch(t, []string{"stuck-a", "stuck-b", "stuck-c"}, b.filterList(t, s.url, map[string]string{"id": "stuck-"}))
	require.ElementsMatch(t, []string{"stuck-a", "arch-07"}, b.filterList(t, s.url, map[string]string{"key": "order-1001"}))
	require.Empty(t, b.filterList(t, s.url, map[string]string{"key": "order-100"}), "the key matches exactly, not as a prefix")
	require.Equal(t, []string{"arch-07", "arch-06", "arch-05"}, b.filterList(t, s.url, map[string]string{
		"created_from": "2026-01-01T10:05", "created_to": "2026-01-01T10:08",
	}), "creation time from (inclusive) to (exclusive), newest first")
	batch := b.filterList(t, s.url, map[string]string{"topic": "archive", "producer": "batch"})
	require.Len(t, batch, archiveRows/2)
	for _, id := range batch {
		var n int
		_, err := fmt.Sscanf(id, "arch-%d", &n)
		require.NoError(t, err)
		require.Equal(t, 1, n%2, "%s is legacy's", id)
	}
	require.Equal(t, "batch", get(t, b, chromedp.Value(chromedp.CSS(`#filters [name="producer"]`))))
	b.run(t, chromedp.Navigate(s.url+"/console/messages?key="+strings.Repeat("k", wire.MaxKeyLen+1)), chromedp.WaitVisible(chromedp.CSS(".problem")))
	require.Contains(t, b.text(t, ".problem"), "key is longer than 1024 characters")

	// The topic alone spans two pages; together they hold each row once.
	first := b.filterList(t, s.url, map[string]string{"topic": "archive"})
	require.Len(t, first, 25)
	b.run(t, chromedp.Click(chromedp.CSS("#next-page")))
	b.waitLocation(t, "cursor=")
	b.run(t, chromedp.WaitVisible(chromedp.CSS("#messages")))
	second := b.listed(t)
	require.Len(t, second, archiveRows-25)
	require.Zero(t, get(t, b, chromedp.Evaluate[int](`document.querySelectorAll("#next-page").length`)), "the last page links no further")
	all := append(slices.Clone(first), second...)
	require.Len(t, prefixed(all, "arch-"), archiveRows)
	slices.Sort(all)
	require.Len(t, slices.Compact(all), archiveRows, "no row twice")

	// How long a message has been in its status, beside its age.
	b.filterList(t, s.url, map[string]string{"topic": "aging"})
	require.Equal(t, "3d", b.text(t, "#messages tr.status-CANCELLED td:nth-child(5)"))
	require.True(t, strings.HasPrefix(b.text(t, "#messages tr.status-CANCELLED td.in-state"), "2h "), b.text(t, "#messages td.in-state"))

	// Confirm a CHECK_EXHAUSTED message through its form.
	b.run(t, chromedp.Navigate(s.url+"/console/messages/stuck-a"), chromedp.WaitVisible(chromedp.CSS("#action-confirm")),
		chromedp.SetValue(chromedp.CSS(`#action-confirm input[name="reason"]`), "the order is paid"),
		chromedp.Submit(chromedp.CSS(`#action-confirm input[name="reason"]`)), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	require.Contains(t, b.text(t, "#what"), "confirm message stuck-a, now CHECK_EXHAUSTED")
	require.Equal(t, wire.StatusCheckExhausted, s.status(t, "stuck-a"), "nothing happens before the operator confirms")
	b.run(t, chromedp.Click(chromedp.CSS("#confirm-button")), chromedp.WaitVisible(chromedp.CSS("#outcomes")))
	require.Contains(t, b.text(t, "#outcomes"), "stuck-a applied CHECK_EXHAUSTED")
	require.Eventually(t, func() bool {
		st := s.status(t, "stuck-a")
		return st == wire.StatusSending || st == wire.StatusDelivered
	}, 30*time.Second, 100*time.Millisecond, "the confirmed message is sent")

	// Re-drive one DEAD message through its form.
	b.run(t, chromedp.Navigate(s.url+"/console/messages/dead-a"), chromedp.WaitVisible(chromedp.CSS("#action-redrive")),
		chromedp.SetValue(chromedp.CSS(`#action-redrive input[name="reason"]`), "consumer fixed"),
		chromedp.Submit(chromedp.CSS(`#action-redrive input[name="reason"]`)), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	b.run(t, chromedp.Click(chromedp.CSS("#confirm-button")), chromedp.WaitVisible(chromedp.CSS("#outcomes")))
	require.Contains(t, b.text(t, "#outcomes"), "dead-a applied DEAD")
	require.Eventually(t, func() bool { return s.status(t, "dead-a") != wire.StatusDead }, 30*time.Second, 50*time.Millisecond)

	// Re-drive a selection: the count first, one reason, a result each.
	b.filterList(t, s.url, map[string]string{"status": "DEAD", "id": "dead-"})
	b.run(t, chromedp.Click(chromedp.CSS(`#messages input[value="dead-b"]`)), chromedp.Click(chromedp.CSS(`#messages input[value="dead-c"]`)),
		chromedp.Click(chromedp.CSS("#bulk-redrive")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	require.Equal(t, "2", b.text(t, "#count"))
	require.ElementsMatch(t, []string{"dead-b", "dead-c"}, strings.Fields(b.text(t, "#selected")))
	require.Equal(t, wire.StatusDead, s.status(t, "dead-b"), "nothing happens before the operator confirms")
	b.run(t, chromedp.SetValue(chromedp.CSS("#reason"), "broker is back"), chromedp.Click(chromedp.CSS("#confirm-button")), chromedp.WaitVisible(chromedp.CSS("#outcomes")))
	outcomes := b.text(t, "#outcomes")
	require.Contains(t, outcomes, "dead-b applied DEAD")
	require.Contains(t, outcomes, "dead-c applied DEAD")

	// Cancel a selection of CHECK_EXHAUSTED messages.
	b.filterList(t, s.url, map[string]string{"status": "CHECK_EXHAUSTED"})
	require.Zero(t, get(t, b, chromedp.Evaluate[int](`document.querySelectorAll("#bulk-redrive").length`)), "only the actions of the filtered status")
	b.run(t, chromedp.Click(chromedp.CSS(`#messages input[value="stuck-b"]`)), chromedp.Click(chromedp.CSS(`#messages input[value="stuck-c"]`)),
		chromedp.Click(chromedp.CSS("#bulk-cancel")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	require.Equal(t, "2", b.text(t, "#count"))
	b.run(t, chromedp.SetValue(chromedp.CSS("#reason"), "orders refunded"), chromedp.Click(chromedp.CSS("#confirm-button")), chromedp.WaitVisible(chromedp.CSS("#outcomes")))
	outcomes = b.text(t, "#outcomes")
	require.Contains(t, outcomes, "stuck-b applied CHECK_EXHAUSTED")
	require.Contains(t, outcomes, "stuck-c applied CHECK_EXHAUSTED")
	s.wait(t, "stuck-b", wire.StatusCancelled)
	s.wait(t, "stuck-c", wire.StatusCancelled)

	// The audit log, narrowed by each filter.
	entries, err := s.stack.Store.AuditLog(context.Background(), 10, 0)
	require.NoError(t, err)
	require.Len(t, entries, 6)
	n := func(e models.AuditEntry) string { return fmt.Sprint(e.ID) }
	bulkCancel, bulkRedrive, redrive, confirm, oldRedrive, oldCancel := n(entries[0]), n(entries[1]), n(entries[2]), n(entries[3]), n(entries[4]), n(entries[5])
	require.Equal(t, []string{bulkCancel, bulkRedrive, redrive, confirm, oldRedrive, oldCancel}, b.filterAudit(t, s.url, map[string]string{}))
	require.Equal(t, []string{oldRedrive, oldCancel}, b.filterAudit(t, s.url, map[string]string{"by": "night-shift"}))
	require.Equal(t, []string{bulkCancel, oldCancel}, b.filterAudit(t, s.url, map[string]string{"action": "cancel"}))
	require.Equal(t, []string{bulkRedrive}, b.filterAudit(t, s.url, map[string]string{"message": "dead-c"}))
	require.Equal(t, []string{oldCancel}, b.filterAudit(t, s.url, map[string]string{"from": "2026-01-01T00:00", "to": "2026-01-02T00:00"}))
	require.Equal(t, []string{bulkRedrive, redrive}, b.filterAudit(t, s.url, map[string]string{"by": "ops", "action": "redrive"}))
	audit := b.text(t, "#audit")
	require.Contains(t, audit, "broker is back")
	require.NotContains(t, audit, "orders refunded")

	// A long log pages by its filter.
	for i := range 51 {
		e := models.AuditEntry{By: "robot", Action: models.Redrive, Reason: fmt.Sprintf("sweep %d", i)}
		require.NoError(t, s.stack.Store.Audit(context.Background(), &e))
	}
	require.Len(t, b.filterAudit(t, s.url, map[string]string{"by": "robot"}), 50)
	b.run(t, chromedp.Click(chromedp.CSS("#older")))
	b.waitLocation(t, "before=")
	b.run(t, chromedp.WaitVisible(chromedp.CSS("#audit")))
	require.Len(t, b.auditNumbers(t), 1)
	require.Contains(t, b.text(t, "#audit"), "sweep 0")
	require.Equal(t, "robot", get(t, b, chromedp.Value(chromedp.CSS(`#audit-filters [name="by"]`))), "the next page keeps the filter")
}

// TestBulkRefusesBadRequests: a bulk form without its CSRF token, with no
// selection, more than 100 messages, an unknown action, or no reason on the
// confirming post is refused with a page that says why, and nothing is done
// or audited; the right form then acts.
func TestBulkRefusesBadRequests(t *testing.T) {
	t.Parallel()
	s := newSite(t, identities())
	s.startAll(t, wire.StatusCheckExhausted, nil, "sel-1")

	admin := s.signIn(t, adminKey)
	token := admin.csrf(t, s.url+"/console/messages?status=CHECK_EXHAUSTED")
	bulk := s.url + "/console/bulk"
	form := func(action string, ids []string, extra ...string) url.Values {
		v := url.Values{"csrf": {token}, "action": {action}, "id": ids}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}
	tooMany := []string{"sel-1"}
	for i := range 100 {
		tooMany = append(tooMany, fmt.Sprintf("m-%d", i))
	}
	for _, c := range []struct {
		name   string
		form   url.Values
		status int
		says   string
	}{
		{"no token", url.Values{"action": {"cancel"}, "id": {"sel-1"}, "confirmed": {"yes"}, "reason": {"r"}}, http.StatusForbidden, "security token"},
		{"nothing selected", form("cancel", nil), http.StatusBadRequest, "select at least one message"},
		{"too many", form("cancel", tooMany), http.StatusBadRequest, "101 messages selected: at most 100 messages can be acted on at once"},
		{"bad id", form("cancel", []string{"a b"}), http.StatusBadRequest, "must be 1-128 characters"},
		{"unknown action", form("complete", []string{"sel-1"}), http.StatusBadRequest, "There is no such action."},
		{"no reason", form("cancel", []string{"sel-1"}, "confirmed", "yes"), http.StatusBadRequest, "Give a reason"},
	} {
		status, body := admin.postPage(t, bulk, c.form)
		require.Equal(t, c.status, status, c.name)
		require.Contains(t, body, c.says, c.name)
	}
	require.Equal(t, wire.StatusCheckExhausted, s.status(t, "sel-1"), "a refused request changed the message")
	entries, err := s.stack.Store.AuditLog(context.Background(), 10, 0)
	require.NoError(t, err)
	require.Empty(t, entries, "a refused request was audited")

	status, body := admin.postPage(t, bulk, form("cancel", []string{"sel-1"}))
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `<strong id="count">1</strong>`, "the first post only asks")
	require.Equal(t, wire.StatusCheckExhausted, s.status(t, "sel-1"))
	status, _ = admin.postPage(t, bulk, form("cancel", []string{"sel-1"}, "confirmed", "yes", "reason", "refunded"))
	require.Equal(t, http.StatusOK, status)
	s.wait(t, "sel-1", wire.StatusCancelled)
}

// postPage posts form to target and returns the status and the page.
func (c *browserlessClient) postPage(t *testing.T, target string, form url.Values) (int, string) {
	t.Helper()
	resp, err := c.http.PostForm(target, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// TestAuditFiltersRefuseBadInput: a filter the audit log cannot hold is
// answered 400 with what is wrong, not with an empty or unfiltered log.
func TestAuditFiltersRefuseBadInput(t *testing.T) {
	t.Parallel()
	s := newSite(t, identities())
	admin := s.signIn(t, adminKey)
	for query, says := range map[string]string{
		"action=delete":                 "is not an operator&#39;s action",
		"message=a%20b":                 "must be 1-128 characters",
		"by=" + strings.Repeat("o", 65): "an operator&#39;s name is at most 64 characters",
		"from=yesterday":                "is not a time like 2026-01-02T15:04",
		"to=2026-13-01T00:00":           "is not a time like 2026-01-02T15:04",
		"before=x":                      "start from the first page",
		"action=cancel&before=-3":       "start from the first page",
	} {
		resp, err := admin.http.Get(s.url + "/console/audit?" + query)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, query)
		require.Contains(t, string(body), says, query)
	}
}
