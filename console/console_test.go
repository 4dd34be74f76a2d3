package console_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/console"
	"github.com/courier-mq/courier/gateway"
	"github.com/courier-mq/courier/internal/teststack"
)

const (
	adminKey    = "console-admin-key-0123456789"
	producerKey = "console-producer-key-0123456789"
	topic       = teststack.DefaultTopic
	// temporalUI is where the console links a message's workflow.
	temporalUI = "http://temporal-ui.test:8233"
)

// site is a Courier engine with a keyed gateway, its console, and the
// messages an operator has to deal with.
type site struct {
	stack *teststack.Stack
	url   string
}

func newSite(t *testing.T, keys []access.Key) *site {
	t.Helper()
	st := teststack.New(t, teststack.Config{})
	gw, err := st.Parts.Gateway(gateway.Config{
		APIKeys:            keys,
		CheckURLAllowHosts: []string{gateway.AllowLoopback},
		Console:            console.Config{TemporalUI: temporalUI},
	}, "")
	require.NoError(t, err)
	hs := httptest.NewServer(gw.Handler())
	t.Cleanup(hs.Close)
	return &site{stack: st, url: hs.URL}
}

func identities() []access.Key {
	return []access.Key{
		{Secret: adminKey, Name: "ops", Roles: []access.Role{access.Admin}},
		{Secret: producerKey, Name: "orders", Roles: []access.Role{access.Producer}, Topics: []string{topic}},
	}
}

// api calls the JSON API with the producer's key.
func (s *site) api(t *testing.T, path string, body any) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.url+path, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+producerKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s: %s", path, out)
}

// exhausted prepares id with a check-back that never answers, and waits
// until the workflow gives up on it.
func (s *site) exhausted(t *testing.T, id string) {
	t.Helper()
	s.api(t, "/v1/messages", map[string]any{
		"id": id, "topic": topic, "payload": map[string]any{"order": id}, "check_url": s.stack.Checks.URL,
		"policy": map[string]any{"check_delay": "1s", "check_max_delay": "1s", "check_max_attempts": 2, "check_timeout": "1s"},
	})
	s.wait(t, id, wire.StatusCheckExhausted)
}

// dead sends id, which nobody completes, and waits until it is DEAD.
func (s *site) dead(t *testing.T, id string) {
	t.Helper()
	s.api(t, "/v1/messages/send", map[string]any{
		"id": id, "topic": topic, "payload": map[string]any{"order": id},
		"policy": map[string]any{"resend_intervals": []string{"1s"}},
	})
	s.wait(t, id, wire.StatusDead)
}

func (s *site) status(t *testing.T, id string) wire.Status {
	t.Helper()
	st, err := s.stack.Messages.State(context.Background(), id)
	require.NoError(t, err)
	return st.Status
}

func (s *site) wait(t *testing.T, id string, want wire.Status) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, err := s.stack.Messages.State(context.Background(), id)
		if err != nil || st.Status != want {
			return false
		}
		row, err := s.stack.Store.Get(context.Background(), id)
		return err == nil && row.Status == want
	}, 60*time.Second, 100*time.Millisecond, "message %s never became %s", id, want)
}

// TestConsoleInABrowser signs in, filters the list, opens a message, cancels
// a CHECK_EXHAUSTED message and re-drives a DEAD one through the forms, and
// reads the results and the audit log, in a real headless Chromium.
func TestConsoleInABrowser(t *testing.T) {
	t.Parallel()
	s := newSite(t, identities())
	s.exhausted(t, "stuck-1")
	s.dead(t, "dead-1")
	s.api(t, "/v1/messages/send", map[string]any{
		"id": "hostile-1", "topic": topic, "key": "<b>bold</b>",
		"payload": map[string]any{"note": "<script>document.title='owned'</script>"},
	})
	s.api(t, "/v1/messages/send", map[string]any{
		"id": "hostile-2", "topic": topic,
		"payload_base64": base64.StdEncoding.EncodeToString([]byte("<script>document.title='owned'</script>\x00\xff")),
	})

	b := newBrowser(t)
	shots := os.Getenv("COURIER_CONSOLE_SCREENSHOTS")

	// Signing in: a producer's key is refused, an admin's lets in.
	b.run(t, chromedp.Navigate(s.url+"/console/"), chromedp.WaitVisible(chromedp.CSS("#key")))
	require.Contains(t, b.location(t), "/console/login")
	b.run(t, chromedp.SetValue(chromedp.CSS("#key"), producerKey), chromedp.Click(chromedp.CSS("#sign-in")), chromedp.WaitVisible(chromedp.CSS("#login-error")))
	require.Contains(t, b.text(t, "#login-error"), "not an admin's")
	b.run(t, chromedp.SetValue(chromedp.CSS("#key"), adminKey), chromedp.Click(chromedp.CSS("#sign-in")), chromedp.WaitVisible(chromedp.CSS("#by-status")))
	require.Contains(t, b.text(t, "#exhausted"), "1")
	require.Contains(t, b.text(t, "#dead"), "1")
	require.Contains(t, b.text(t, "header"), "ops")
	b.screenshot(t, shots, "console-overview.png")

	// The list, filtered by status through the form.
	b.run(t, chromedp.Navigate(s.url+"/console/messages"), chromedp.WaitVisible(chromedp.CSS("#filters")),
		chromedp.SetValue(chromedp.CSS(`select[name="status"]`), "DEAD"), chromedp.Click(chromedp.CSS("#apply")))
	b.waitLocation(t, "status=DEAD")
	rows := b.text(t, "#messages")
	require.Contains(t, rows, "dead-1")
	require.NotContains(t, rows, "stuck-1")
	b.run(t, chromedp.Navigate(s.url+"/console/messages?id=hostile"), chromedp.WaitVisible(chromedp.CSS("#messages")))
	rows = b.text(t, "#messages")
	require.Contains(t, rows, "hostile-1")
	require.NotContains(t, rows, "dead-1")
	b.run(t, chromedp.Navigate(s.url+"/console/messages"), chromedp.WaitVisible(chromedp.CSS("#messages")))
	b.screenshot(t, shots, "console-list.png")

	// The stuck message's page: its check-backs, a link to its workflow.
	b.run(t, chromedp.Navigate(s.url+"/console/messages/stuck-1"), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	require.Equal(t, "CHECK_EXHAUSTED", b.text(t, "#status"))
	require.Contains(t, b.text(t, "#timeline"), "check-back 2")
	require.Contains(t, b.text(t, "#timeline"), "UNKNOWN")
	href := get(t, b, chromedp.AttributeValue(chromedp.CSS("#temporal-link"), "href"))
	require.Equal(t, temporalUI+"/namespaces/default/workflows/msg-stuck-1", href.Value)
	b.screenshot(t, shots, "console-detail.png")

	// Cancel it: reason, confirmation, the workflow's answer.
	b.run(t, chromedp.SetValue(chromedp.CSS(`#action-cancel input[name="reason"]`), "the order was refunded by phone"),
		chromedp.Submit(chromedp.CSS(`#action-cancel input[name="reason"]`)), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	require.Contains(t, b.text(t, "#what"), "cancel message stuck-1, now CHECK_EXHAUSTED")
	require.Equal(t, wire.StatusCheckExhausted, s.status(t, "stuck-1"), "nothing happens before the operator confirms")
	b.run(t, chromedp.Click(chromedp.CSS("#confirm-button")), chromedp.WaitVisible(chromedp.CSS("#outcomes")))
	require.Contains(t, b.text(t, "#outcomes"), "stuck-1 applied CHECK_EXHAUSTED")
	s.wait(t, "stuck-1", wire.StatusCancelled)

	// Re-drive every DEAD message of the topic: the count first, then a
	// result per message.
	b.run(t, chromedp.Navigate(s.url+"/console/messages?status=DEAD&topic="+topic), chromedp.WaitVisible(chromedp.CSS("#redrive-topic")),
		chromedp.SetValue(chromedp.CSS(`#redrive-topic input[name="reason"]`), "accounting is back"),
		chromedp.Submit(chromedp.CSS(`#redrive-topic input[name="reason"]`)), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	require.Equal(t, "1", b.text(t, "#count"))
	b.run(t, chromedp.Click(chromedp.CSS("#confirm-button")), chromedp.WaitVisible(chromedp.CSS("#outcomes")))
	require.Contains(t, b.text(t, "#outcomes"), "dead-1 applied DEAD")
	require.Eventually(t, func() bool { return s.status(t, "dead-1") != wire.StatusDead }, 30*time.Second, 100*time.Millisecond)

	// Both actions are in the audit log, with who and why.
	b.run(t, chromedp.Navigate(s.url+"/console/audit"), chromedp.WaitVisible(chromedp.CSS("#audit")))
	audit := b.text(t, "#audit")
	for _, want := range []string{"ops", "cancel", "stuck-1", "the order was refunded by phone", "redrive (topic orders)", "dead-1", "accounting is back", "applied"} {
		require.Contains(t, audit, want)
	}
	entries, err := s.stack.Store.AuditLog(context.Background(), 10, 0)
	require.NoError(t, err)
	require.Len(t, entries, 2)

	// Who may call the gateway, without a secret.
	b.run(t, chromedp.Navigate(s.url+"/console/access"), chromedp.WaitVisible(chromedp.CSS("#identities")))
	require.Equal(t, "identity roles topics keys ops admin every topic (admin) 1 orders producer orders 1", b.text(t, "#identities"))
	html := get(t, b, chromedp.OuterHTML(chromedp.CSS("html")))
	require.NotContains(t, html, adminKey)
	require.NotContains(t, html, producerKey)

	// What producers wrote is shown as text, never run or rendered as HTML.
	for _, id := range []string{"hostile-1", "hostile-2"} {
		b.run(t, chromedp.Navigate(s.url+"/console/messages/"+id), chromedp.WaitVisible(chromedp.CSS("#payload")))
		require.Zero(t, get(t, b, chromedp.Evaluate[int](`document.querySelectorAll("main script").length`)), id)
		require.Zero(t, get(t, b, chromedp.Evaluate[int](`document.querySelectorAll("main b").length`)), id)
		require.NotEqual(t, "owned", get(t, b, chromedp.Title()), id)
	}
	b.run(t, chromedp.Navigate(s.url+"/console/messages/hostile-1"), chromedp.WaitVisible(chromedp.CSS("#payload")))
	require.Contains(t, b.text(t, "#payload"), `"note": "\u003cscript\u003edocument.title='owned'\u003c/script\u003e"`)
	require.Contains(t, b.text(t, "#fields"), "<b>bold</b>")
	b.run(t, chromedp.Navigate(s.url+"/console/messages/hostile-2"), chromedp.WaitVisible(chromedp.CSS("#payload")))
	require.Contains(t, b.text(t, "#payload"), "|<script>document|")
}

// TestConsoleRefusesForgedRequests posts the cancel form without a session,
// with a wrong CSRF token and as a producer, and checks that nothing
// changed; then the same form, rightly made, cancels.
func TestConsoleRefusesForgedRequests(t *testing.T) {
	t.Parallel()
	s := newSite(t, identities())
	s.exhausted(t, "forged-1")

	admin := s.signIn(t, adminKey)
	token := admin.csrf(t, s.url+"/console/messages/forged-1")
	form := url.Values{"reason": {"forged"}, "confirmed": {"yes"}, "csrf": {token}}
	action := s.url + "/console/messages/forged-1/cancel"

	anonymous := newBrowserlessClient(t)
	require.Equal(t, http.StatusUnauthorized, anonymous.post(t, action, form))

	wrong := url.Values{"reason": {"forged"}, "confirmed": {"yes"}, "csrf": {strings.Repeat("0", len(token))}}
	require.Equal(t, http.StatusForbidden, admin.post(t, action, wrong))
	require.Equal(t, http.StatusForbidden, admin.post(t, action, url.Values{"reason": {"forged"}, "confirmed": {"yes"}}))

	// A producer's key as the session cookie, with a token made for it.
	producer := newBrowserlessClient(t)
	base, _ := url.Parse(s.url + "/console/")
	producer.jar.SetCookies(base, []*http.Cookie{{Name: "courier_session", Value: producerKey, Path: "/console/"}})
	ptoken := producer.csrf(t, s.url+"/console/login")
	require.Equal(t, http.StatusUnauthorized, producer.post(t, action, url.Values{"reason": {"forged"}, "confirmed": {"yes"}, "csrf": {ptoken}}))
	// A producer cannot sign in either.
	require.Equal(t, http.StatusUnauthorized, producer.post(t, s.url+"/console/login", url.Values{"key": {producerKey}, "csrf": {ptoken}}))

	require.Equal(t, wire.StatusCheckExhausted, s.status(t, "forged-1"), "a refused request changed the message")
	entries, err := s.stack.Store.AuditLog(context.Background(), 10, 0)
	require.NoError(t, err)
	require.Empty(t, entries, "a refused request was audited as an action")

	// The admin's own form works.
	require.Equal(t, http.StatusOK, admin.post(t, action, form))
	s.wait(t, "forged-1", wire.StatusCancelled)
}

// TestConsoleHeadersAndOpenMode checks the security headers, and that an
// open console says so on every page.
func TestConsoleHeadersAndOpenMode(t *testing.T) {
	t.Parallel()
	s := newSite(t, nil)
	c := newBrowserlessClient(t)
	for _, path := range []string{"/console/", "/console/messages", "/console/audit", "/console/access"} {
		resp, err := c.http.Get(s.url + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		csp := resp.Header.Get("Content-Security-Policy")
		require.Contains(t, csp, "frame-ancestors 'none'")
		require.Contains(t, csp, "default-src 'none'")
		require.NotContains(t, csp, "unsafe-inline")
		require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
		require.Contains(t, string(body), "This console is open: no API keys are configured", path)
		require.NotContains(t, string(body), "<script", path)
	}
}

// browserlessClient is a cookie-keeping HTTP client for the form tests.
type browserlessClient struct {
	http *http.Client
	jar  *cookiejar.Jar
}

func newBrowserlessClient(t *testing.T) *browserlessClient {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browserlessClient{jar: jar, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signIn is a client signed in with key.
func (s *site) signIn(t *testing.T, key string) *browserlessClient {
	c := newBrowserlessClient(t)
	token := c.csrf(t, s.url+"/console/login")
	require.Equal(t, http.StatusSeeOther, c.post(t, s.url+"/console/login", url.Values{"key": {key}, "csrf": {token}}))
	return c
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf gets page and returns the CSRF token of its forms.
func (c *browserlessClient) csrf(t *testing.T, page string) string {
	resp, err := c.http.Get(page)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(body)
	require.NotNil(t, m, "no CSRF token on %s (%d)", page, resp.StatusCode)
	return string(m[1])
}

func (c *browserlessClient) post(t *testing.T, target string, form url.Values) int {
	resp, err := c.http.PostForm(target, form)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// browser is a headless Chromium.
type browser struct{ ctx context.Context }

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.NoSandbox, // CI runs as root
		chromedp.WindowSize(1360, 900),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(cancelCtx)
	require.NoError(t, chromedp.Do(ctx), "start chromium (apt-get install chromium)")
	return &browser{ctx: ctx}
}

func (b *browser) run(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	get(t, b, chromedp.Steps(steps...))
}

// get runs a and returns its value, failing t after 30 s.
func get[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err)
	return v
}

func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	return strings.Join(strings.Fields(get(t, b, chromedp.Text(chromedp.CSS(sel)))), " ")
}

// waitLocation waits until the page's URL contains part: a form's page has
// replaced the one it was sent from.
func (b *browser) waitLocation(t *testing.T, part string) {
	t.Helper()
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		defer cancel()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		return err == nil && strings.Contains(loc, part)
	}, 30*time.Second, 50*time.Millisecond, "never navigated to %s", part)
	b.run(t, chromedp.WaitReady(chromedp.CSS("body")))
}

func (b *browser) location(t *testing.T) string {
	t.Helper()
	return get(t, b, chromedp.Location())
}

// screenshot saves the page to dir/name when dir is set (to refresh the
// README's pictures: COURIER_CONSOLE_SCREENSHOTS=$PWD/docs go test ./console).
func (b *browser) screenshot(t *testing.T, dir, name string) {
	t.Helper()
	if dir == "" {
		return
	}
	png := get(t, b, chromedp.FullScreenshot(100))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
}
