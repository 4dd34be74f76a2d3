package console_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
)

// TestDetailShowsStatusChangesPolicyAndNext reads the message page of a
// waiting, a CHECK_EXHAUSTED and a DEAD message: a timeline row for every
// status change with its cause, the policy, and what the workflow does next.
// Then an operator cancels the CHECK_EXHAUSTED one, and its last_error names
// the operator and the reason, on the page, in the mirror and in the API.
func TestDetailShowsStatusChangesPolicyAndNext(t *testing.T) {
	t.Parallel()
	s := newSite(t, identities())
	s.api(t, "/v1/messages", map[string]any{
		"id": "waiting-1", "topic": topic, "payload": map[string]any{"order": 1}, "check_url": s.stack.Checks.URL,
		"policy": map[string]any{"check_delay": "1h", "check_max_delay": "2h", "check_max_attempts": 4},
	})
	s.exhausted(t, "parked-1")
	s.dead(t, "dead-2")
	admin := s.signIn(t, adminKey)

	waiting := admin.page(t, s.url+"/console/messages/waiting-1")
	require.Regexp(t, `next check-back 1 of 4 at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ`, waiting)
	require.Contains(t, waiting, "status WAITING_CONFIRM prepared")
	require.Contains(t, waiting, "check-back: first after 1h, then ×2 up to 2h apart, 4 at most")

	parked := admin.page(t, s.url+"/console/messages/parked-1")
	require.Contains(t, parked, "status CHECK_EXHAUSTED from WAITING_CONFIRM check-back 2 of 2 answered UNKNOWN: no check-backs left")
	require.Contains(t, parked, "next nothing on its own: waits for an operator to confirm or cancel")
	require.Contains(t, parked, "check-back: first after 1s, then ×2 up to 1s apart, 2 at most (each call 1s at most), then CHECK_EXHAUSTED")
	require.Contains(t, parked, "completion awaited 1m, 2m, 5m, 15m, 30m, 1h after each send: 6 sends at most, then DEAD")

	dead := admin.page(t, s.url+"/console/messages/dead-2")
	require.Contains(t, dead, "status SENDING sent directly")
	require.Contains(t, dead, "status DEAD from DELIVERED not completed after 1 sends: no sends left")
	require.Contains(t, dead, "next nothing on its own: waits for an operator to re-drive")
	require.Contains(t, dead, "completion awaited 1s after each send: 1 sends at most, then DEAD")

	token := admin.csrf(t, s.url+"/console/messages/parked-1")
	form := url.Values{"reason": {`duplicate order "7"`}, "confirmed": {"yes"}, "csrf": {token}}
	require.Equal(t, http.StatusOK, admin.post(t, s.url+"/console/messages/parked-1/cancel", form))
	s.wait(t, "parked-1", wire.StatusCancelled)

	const note = `cancelled by operator ops: "duplicate order \"7\""`
	row, err := s.stack.Store.Get(context.Background(), "parked-1")
	require.NoError(t, err)
	require.Equal(t, note, row.LastError, "the mirror's last_error says what the operator did")
	var got wire.Message
	s.read(t, "/v1/messages/parked-1", &got)
	require.Equal(t, note, got.LastError)
	cancelled := admin.page(t, s.url+"/console/messages/parked-1")
	require.Contains(t, cancelled, "last error "+note)
	require.Contains(t, cancelled, "status CANCELLED from CHECK_EXHAUSTED "+note)
	require.Contains(t, cancelled, "next nothing: settled")
}

// read GETs path from the JSON API with the admin's key into out.
func (s *site) read(t *testing.T, path string, out any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
	require.NoError(t, json.Unmarshal(body, out))
}

var (
	tag   = regexp.MustCompile(`<[^>]*>`)
	space = regexp.MustCompile(`\s+`)
)

// page GETs a console page and returns its text as a reader sees it: tags
// gone, entities decoded, white space collapsed.
func (c *browserlessClient) page(t *testing.T, target string) string {
	t.Helper()
	var text string
	// The page asks the workflow; give a busy test server a moment.
	require.Eventually(t, func() bool {
		resp, err := c.http.Get(target)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return false
		}
		text = space.ReplaceAllString(html.UnescapeString(tag.ReplaceAllString(string(body), " ")), " ")
		return !strings.Contains(text, "did not answer")
	}, 30*time.Second, 200*time.Millisecond, "%s never answered from its workflow", target)
	return text
}
