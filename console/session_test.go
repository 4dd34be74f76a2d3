package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/console"
	"github.com/courier-mq/courier/gateway"
	"github.com/courier-mq/courier/internal/syncbuf"
	"github.com/courier-mq/courier/internal/teststack"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

// gatewayOn serves a gateway with keys and console config cc over the
// engine of st and the mirror database db: several of them over one
// database are the gateways of one deployment, or one gateway before and
// after a restart. Its log is returned.
func gatewayOn(t *testing.T, st *teststack.Stack, db *store.Store, keys []access.Key, cc console.Config) (*site, *syncbuf.Buffer) {
	t.Helper()
	h, log := gatewayHandler(t, st, db, keys, cc)
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &site{stack: st, url: hs.URL}, log
}

// gatewayHandler is gatewayOn's gateway, not yet served.
func gatewayHandler(t *testing.T, st *teststack.Stack, db *store.Store, keys []access.Key, cc console.Config) (http.Handler, *syncbuf.Buffer) {
	t.Helper()
	var log syncbuf.Buffer
	p := st.Parts
	p.Store = db
	p.Logger = slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cc.TemporalUI = temporalUI
	gw, err := p.Gateway(gateway.Config{APIKeys: keys, Console: cc}, "")
	require.NoError(t, err)
	return gw.Handler(), &log
}

// backends runs fn as a parallel subtest on the engine's own SQLite mirror
// and on a MariaDB one.
func backends(t *testing.T, st *teststack.Stack, fn func(t *testing.T, db *store.Store)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); fn(t, st.Store) })
	t.Run("mysql", func(t *testing.T) { t.Parallel(); fn(t, storetest.NewMySQL(t)) })
}

// from makes c connect from the local address ip (127.0.0.0/8 is all
// loopback on Linux), as a client on another machine would.
func (c *browserlessClient) from(ip string) *browserlessClient {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c.http.Transport = &http.Transport{DialContext: d.DialContext}
	return c
}

// sessionCookieOf is the session cookie c holds for the console.
func (s *site) sessionCookieOf(t *testing.T, c *browserlessClient) *http.Cookie {
	t.Helper()
	u, err := url.Parse(s.url + "/console/")
	require.NoError(t, err)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == "courier_session" {
			return ck
		}
	}
	t.Fatal("no session cookie")
	return nil
}

// page gets path with only cookie (and a CSRF cookie the console makes)
// and returns the status, and where a redirect goes.
func (s *site) page(t *testing.T, path string, cookie *http.Cookie) (int, string) {
	t.Helper()
	c := newBrowserlessClient(t)
	u, err := url.Parse(s.url + "/console/")
	require.NoError(t, err)
	c.jar.SetCookies(u, []*http.Cookie{{Name: cookie.Name, Value: cookie.Value, Path: "/console/"}})
	resp, err := c.http.Get(s.url + path)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// signedIn reports whether cookie opens the overview of s.
func (s *site) signedIn(t *testing.T, cookie *http.Cookie) bool {
	t.Helper()
	status, loc := s.page(t, "/console/", cookie)
	if status == http.StatusSeeOther {
		require.True(t, strings.HasPrefix(loc, "/console/login"), loc)
		return false
	}
	require.Equal(t, http.StatusOK, status)
	return true
}

// requireNoRow asserts that the session of cookie is gone from db.
func requireNoRow(t *testing.T, db *store.Store, cookie *http.Cookie) {
	t.Helper()
	id := sha256.Sum256([]byte(cookie.Value))
	_, err := db.Session(context.Background(), hex.EncodeToString(id[:]))
	require.ErrorIs(t, err, models.ErrNotFound)
}

// TestConsoleSessions signs in over plain HTTP with keys on, on SQLite and
// on MariaDB: the cookie and the session row hold no key; sign-out ends the
// session on the server, so a cookie copied before it is refused after it;
// another gateway over the same database (or the same after a restart)
// accepts the cookie while the key is configured and ends the session when
// it is not; idle and expired sessions are refused.
func TestConsoleSessions(t *testing.T) {
	t.Parallel()
	st := teststack.New(t, teststack.Config{})
	backends(t, st, func(t *testing.T, db *store.Store) {
		t.Run("the cookie holds no key", func(t *testing.T) {
			s, _ := gatewayOn(t, st, db, identities(), console.Config{})
			c := newBrowserlessClient(t)
			token := c.csrf(t, s.url+"/console/login")
			resp, err := c.http.PostForm(s.url+"/console/login", url.Values{"key": {adminKey}, "csrf": {token}})
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusSeeOther, resp.StatusCode)
			var set []string
			for _, h := range resp.Header.Values("Set-Cookie") {
				if strings.HasPrefix(h, "courier_session=") {
					set = append(set, h)
				}
			}
			require.Len(t, set, 1)
			digest := sha256.Sum256([]byte(adminKey))
			for _, secret := range []string{adminKey, hex.EncodeToString(digest[:]), access.Hash(adminKey), access.Fingerprint(adminKey)} {
				require.NotContains(t, set[0], secret)
			}
			ck := s.sessionCookieOf(t, c)
			require.Len(t, ck.Value, 43, "32 random bytes in base64url")
			for range 3 {
				require.True(t, s.signedIn(t, ck))
			}
			id := sha256.Sum256([]byte(ck.Value))
			sess, err := db.Session(context.Background(), hex.EncodeToString(id[:]))
			require.NoError(t, err)
			require.Equal(t, sess.CreatedAt, sess.LastSeenAt, "a page view within the minute wrote the session's use")
			require.Equal(t, sess.CreatedAt.Add(console.DefaultSessionMaxAge), sess.ExpiresAt)

			// The row knows the cookie by its hash and the key by its
			// fingerprint: neither is a credential.
			var rows []map[string]any
			require.NoError(t, db.DB().Raw("SELECT * FROM console_sessions WHERE created_at >= ?", time.Now().Add(-time.Minute)).Scan(&rows).Error)
			require.Len(t, rows, 1)
			dump := fmt.Sprint(rows)
			for _, secret := range []string{adminKey, hex.EncodeToString(digest[:]), ck.Value} {
				require.NotContains(t, dump, secret)
			}
			require.Contains(t, dump, hex.EncodeToString(id[:]))
			require.Contains(t, dump, "ops")
		})

		t.Run("sign-out ends the session on the server", func(t *testing.T) {
			s, _ := gatewayOn(t, st, db, identities(), console.Config{})
			admin := s.signIn(t, adminKey)
			copied := s.sessionCookieOf(t, admin)
			require.True(t, s.signedIn(t, copied))
			token := admin.csrf(t, s.url+"/console/")
			require.Equal(t, http.StatusSeeOther, admin.post(t, s.url+"/console/logout", url.Values{"csrf": {token}}))

			requireNoRow(t, db, copied)
			require.False(t, s.signedIn(t, copied), "a cookie copied before sign-out opens the console after it")
			replay := newBrowserlessClient(t)
			u, _ := url.Parse(s.url + "/console/")
			replay.jar.SetCookies(u, []*http.Cookie{{Name: copied.Name, Value: copied.Value, Path: "/console/"}})
			rtoken := replay.csrf(t, s.url+"/console/login")
			require.Equal(t, http.StatusUnauthorized, replay.post(t, s.url+"/console/redrive", url.Values{"topic": {topic}, "reason": {"replayed"}, "csrf": {rtoken}}))
		})

		t.Run("other gateways and removed keys", func(t *testing.T) {
			first, _ := gatewayOn(t, st, db, identities(), console.Config{})
			admin := first.signIn(t, adminKey)
			ck := first.sessionCookieOf(t, admin)

			// The same keys on another gateway, or on this one restarted.
			same, _ := gatewayOn(t, st, db, identities(), console.Config{})
			require.True(t, same.signedIn(t, ck), "another gateway of the deployment refuses the session")

			// The admin key rotated out: only its replacement is configured.
			rotated := []access.Key{
				{Secret: "console-admin-key-replacement", Name: "ops", Roles: []access.Role{access.Admin}},
				identities()[1],
			}
			without, log := gatewayOn(t, st, db, rotated, console.Config{})
			require.False(t, without.signedIn(t, ck), "a session outlives the removal of its key")
			require.Contains(t, log.String(), `"why":"key removed"`)
			requireNoRow(t, db, ck)
			require.False(t, same.signedIn(t, ck), "a session ended on one gateway goes on on another")
			require.False(t, first.signedIn(t, ck))

			// A key that is no longer an admin's ends its sessions too.
			admin = first.signIn(t, adminKey)
			ck = first.sessionCookieOf(t, admin)
			demoted := []access.Key{{Secret: adminKey, Name: "ops", Roles: []access.Role{access.Consumer}, Topics: []string{"*"}}}
			consumerOnly, _ := gatewayOn(t, st, db, demoted, console.Config{})
			require.False(t, consumerOnly.signedIn(t, ck))
			require.False(t, first.signedIn(t, ck))
		})

		t.Run("idle", func(t *testing.T) {
			s, log := gatewayOn(t, st, db, identities(), console.Config{SessionMaxAge: time.Hour, SessionIdle: 3 * time.Second})
			ck := s.sessionCookieOf(t, s.signIn(t, adminKey))
			require.True(t, s.signedIn(t, ck))
			time.Sleep(4500 * time.Millisecond)
			require.False(t, s.signedIn(t, ck), "a session unused for longer than its idle limit is accepted")
			require.Contains(t, log.String(), `"why":"idle"`)
		})

		t.Run("expired", func(t *testing.T) {
			// An idle limit far above the 200 ms between uses: a stalled
			// request on a loaded machine must not end it as idle first.
			const maxAge, idle = 8 * time.Second, 4 * time.Second
			s, log := gatewayOn(t, st, db, identities(), console.Config{SessionMaxAge: maxAge, SessionIdle: idle})
			start := time.Now() // before the session starts
			ck := s.sessionCookieOf(t, s.signIn(t, adminKey))
			var lastIn time.Time
			require.Eventually(t, func() bool {
				if s.signedIn(t, ck) {
					lastIn = time.Now()
					return false
				}
				return true
			}, 30*time.Second, 200*time.Millisecond)
			require.Greater(t, lastIn.Sub(start), idle, "used every 200ms, the session must outlive its idle limit")
			require.GreaterOrEqual(t, time.Since(start), maxAge, "ended before its max age")
			require.Contains(t, log.String(), `"why":"expired"`)
			requireNoRow(t, db, ck)
		})
	})
}

// apiStatus calls GET /v1/stats of s with key from c and returns the
// response, its body read.
func (s *site) apiStatus(t *testing.T, c *browserlessClient, key string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+"/v1/stats", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.http.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// requireRetryAfter asserts a 429 that says to wait at most the window.
func requireRetryAfter(t *testing.T, resp *http.Response) {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", resp.Header.Get("Retry-After"))
	require.True(t, wait >= 1 && wait <= 60, "Retry-After %d", wait)
}

// TestWrongKeysAreThrottled: the 61st wrong key in a minute from one
// address is answered 429 with Retry-After, on the API and at the
// console's sign-in (which count together), even with a right key, while
// the right key from another address still works; a producer key refused
// the console 60 times is throttled by its identity. Each burst is logged
// once and counted in the metrics.
func TestWrongKeysAreThrottled(t *testing.T) {
	t.Parallel()
	st := teststack.New(t, teststack.Config{})

	t.Run("api", func(t *testing.T) {
		t.Parallel()
		s, log := gatewayOn(t, st, st.Store, identities(), console.Config{})
		attacker := newBrowserlessClient(t)
		for i := range access.ThrottleLimit {
			resp, _ := s.apiStatus(t, attacker, fmt.Sprintf("wrong-key-%02d-0123456789", i))
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "wrong key %d", i+1)
		}
		resp, body := s.apiStatus(t, attacker, "wrong-key-61-0123456789")
		requireRetryAfter(t, resp)
		var e struct{ Error struct{ Code string } }
		require.NoError(t, json.Unmarshal([]byte(body), &e), body)
		require.Equal(t, "too_many_requests", e.Error.Code)
		resp, _ = s.apiStatus(t, attacker, adminKey)
		requireRetryAfter(t, resp) // the key is not even compared

		// The console's sign-in counts with the API.
		token := attacker.csrf(t, s.url+"/console/login")
		resp, err := attacker.http.PostForm(s.url+"/console/login", url.Values{"key": {adminKey}, "csrf": {token}})
		require.NoError(t, err)
		resp.Body.Close()
		requireRetryAfter(t, resp)

		// The legitimate admin, elsewhere, is not locked out.
		resp, body = s.apiStatus(t, newBrowserlessClient(t).from("127.0.0.2"), adminKey)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)

		require.Equal(t, 1, strings.Count(log.String(), "too many refused API keys"), log.String())
		require.Contains(t, log.String(), `"address":"127.0.0.1"`)
		metrics, err := http.Get(s.url + "/metrics")
		require.NoError(t, err)
		text, _ := io.ReadAll(metrics.Body)
		metrics.Body.Close()
		require.Contains(t, string(text), `courier_gateway_throttled_requests_total{what="address"} 3`)
		require.Contains(t, string(text), `courier_gateway_throttled_requests_total{what="identity"} 0`)
	})

	t.Run("console sign-in", func(t *testing.T) {
		t.Parallel()
		s, log := gatewayOn(t, st, st.Store, identities(), console.Config{})
		attacker := newBrowserlessClient(t)
		token := attacker.csrf(t, s.url+"/console/login")
		for i := range access.ThrottleLimit {
			require.Equal(t, http.StatusUnauthorized, attacker.post(t, s.url+"/console/login", url.Values{"key": {fmt.Sprintf("wrong-key-%02d-0123456789", i)}, "csrf": {token}}), "wrong key %d", i+1)
		}
		resp, err := attacker.http.PostForm(s.url+"/console/login", url.Values{"key": {adminKey}, "csrf": {token}})
		require.NoError(t, err)
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		requireRetryAfter(t, resp)
		require.Contains(t, string(page), "Too many wrong keys")
		require.Empty(t, resp.Header.Values("Set-Cookie"), "a throttled sign-in started a session")
		resp, _ = s.apiStatus(t, attacker, adminKey)
		requireRetryAfter(t, resp)

		admin := newBrowserlessClient(t).from("127.0.0.2")
		atoken := admin.csrf(t, s.url+"/console/login")
		require.Equal(t, http.StatusSeeOther, admin.post(t, s.url+"/console/login", url.Values{"key": {adminKey}, "csrf": {atoken}}))
		require.True(t, s.signedIn(t, s.sessionCookieOf(t, admin)))
		require.Equal(t, 1, strings.Count(log.String(), "too many refused API keys"), log.String())
	})

	t.Run("identity", func(t *testing.T) {
		t.Parallel()
		s, log := gatewayOn(t, st, st.Store, identities(), console.Config{})
		producer := newBrowserlessClient(t)
		token := producer.csrf(t, s.url+"/console/login")
		for i := range access.ThrottleLimit {
			require.Equal(t, http.StatusUnauthorized, producer.post(t, s.url+"/console/login", url.Values{"key": {producerKey}, "csrf": {token}}), "try %d", i+1)
		}
		elsewhere := newBrowserlessClient(t).from("127.0.0.3")
		etoken := elsewhere.csrf(t, s.url+"/console/login")
		resp, err := elsewhere.http.PostForm(s.url+"/console/login", url.Values{"key": {producerKey}, "csrf": {etoken}})
		require.NoError(t, err)
		resp.Body.Close()
		requireRetryAfter(t, resp)
		require.Contains(t, log.String(), `"identity":"orders"`)
		resp, _ = s.apiStatus(t, elsewhere, producerKey)
		requireRetryAfter(t, resp) // the API counts with the console
		// The admin, from the producer's address, is not throttled.
		require.Equal(t, http.StatusSeeOther, producer.post(t, s.url+"/console/login", url.Values{"key": {adminKey}, "csrf": {token}}))
	})
}

// TestThrottleBehindATrustedProxy: behind a reverse proxy named in
// TrustedProxies, wrong keys are counted by the client address the proxy
// appends to X-Forwarded-For, so an attacker behind it is throttled while
// another client behind the same proxy keeps working, whatever the attacker
// writes into the header itself; a peer that is not a trusted proxy is
// counted by its own address.
func TestThrottleBehindATrustedProxy(t *testing.T) {
	t.Parallel()
	st := teststack.New(t, teststack.Config{})
	var log syncbuf.Buffer
	p := st.Parts
	p.Logger = slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	gw, err := p.Gateway(gateway.Config{APIKeys: identities(), TrustedProxies: []string{"127.0.0.1"}}, "")
	require.NoError(t, err)
	hs := httptest.NewServer(gw.Handler())
	t.Cleanup(hs.Close)
	s := &site{stack: st, url: hs.URL}

	proxy := newBrowserlessClient(t) // connects from 127.0.0.1
	forwarded := func(xff, key string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, s.url+"/v1/stats", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := proxy.http.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range access.ThrottleLimit {
		// The attacker varies what it writes; the proxy appends the
		// address it saw.
		require.Equal(t, http.StatusUnauthorized, forwarded(fmt.Sprintf("192.0.2.%d, 198.51.100.7", i), fmt.Sprintf("wrong-key-%02d-0123456789", i)))
	}
	require.Equal(t, http.StatusTooManyRequests, forwarded("198.51.100.7", adminKey), "the attacker behind the proxy is throttled")
	require.Equal(t, http.StatusTooManyRequests, forwarded("198.51.100.8, 198.51.100.7", adminKey), "a spoofed hop is not believed")
	require.Equal(t, http.StatusOK, forwarded("198.51.100.8", adminKey), "another client behind the same proxy is not locked out")
	require.Contains(t, log.String(), `"address":"198.51.100.7"`)

	// The console's sign-in counts the same address.
	token := proxy.csrf(t, s.url+"/console/login")
	req, err := http.NewRequest(http.MethodPost, s.url+"/console/login", strings.NewReader(url.Values{"key": {adminKey}, "csrf": {token}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	resp, err := proxy.http.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	requireRetryAfter(t, resp)

	// From a peer that is no trusted proxy the header means nothing.
	direct := newBrowserlessClient(t).from("127.0.0.2")
	for i := range access.ThrottleLimit {
		req, err := http.NewRequest(http.MethodGet, s.url+"/v1/stats", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", fmt.Sprintf("Bearer wrong-key-%02d-0123456789", i))
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		resp, err := direct.http.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	resp, _ = s.apiStatus(t, direct, adminKey)
	requireRetryAfter(t, resp)
	require.Contains(t, log.String(), `"address":"127.0.0.2"`)
}

// TestConsoleHeadersAndCookiesWithKeys asserts, with keys on, every
// security header on the sign-in page, a signed-in page and a refusal, and
// every flag of both cookies, over plain HTTP, behind a TLS-terminating
// proxy and over TLS.
func TestConsoleHeadersAndCookiesWithKeys(t *testing.T) {
	t.Parallel()
	st := teststack.New(t, teststack.Config{})
	const maxAge = 2 * time.Hour
	h, _ := gatewayHandler(t, st, st.Store, identities(), console.Config{SessionMaxAge: maxAge, SessionIdle: time.Hour})
	plain := httptest.NewServer(h)
	t.Cleanup(plain.Close)
	tlsServer := httptest.NewTLSServer(h)
	t.Cleanup(tlsServer.Close)

	requireHeaders := func(t *testing.T, resp *http.Response) {
		t.Helper()
		h := resp.Header
		require.Equal(t, "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", h.Get("Content-Security-Policy"))
		require.Equal(t, "DENY", h.Get("X-Frame-Options"))
		require.Equal(t, "same-origin", h.Get("Referrer-Policy"))
		require.Equal(t, "no-store", h.Get("Cache-Control"))
		require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	}
	for _, mode := range []string{"http", "proxy", "tls"} {
		t.Run(mode, func(t *testing.T) {
			secure := mode != "http"
			s := &site{stack: st, url: plain.URL}
			// The cookies are kept by hand: a cookie jar would not send
			// Secure ones over the proxy mode's plain HTTP.
			c := newBrowserlessClient(t)
			c.http.Jar = nil
			if mode == "tls" {
				s.url = tlsServer.URL
				c.http.Transport = tlsServer.Client().Transport
			}
			jar := map[string]string{}
			do := func(method, path string, form url.Values) *http.Response {
				t.Helper()
				req, err := http.NewRequest(method, s.url+path, strings.NewReader(form.Encode()))
				require.NoError(t, err)
				for name, value := range jar {
					req.AddCookie(&http.Cookie{Name: name, Value: value})
				}
				if form != nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				if mode == "proxy" {
					req.Header.Set("X-Forwarded-Proto", "https")
				}
				resp, err := c.http.Do(req)
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				for _, ck := range resp.Cookies() {
					if ck.MaxAge < 0 {
						delete(jar, ck.Name)
					} else {
						jar[ck.Name] = ck.Value
					}
				}
				if m := csrfField.FindSubmatch(body); m != nil {
					resp.Header.Set("X-Test-CSRF", string(m[1]))
				}
				requireHeaders(t, resp)
				return resp
			}
			requireCookie := func(resp *http.Response, name string, age time.Duration) {
				t.Helper()
				var found *http.Cookie
				for _, ck := range resp.Cookies() {
					if ck.Name == name {
						found = ck
					}
				}
				require.NotNil(t, found, "no %s cookie set", name)
				require.True(t, found.HttpOnly, name)
				require.Equal(t, http.SameSiteStrictMode, found.SameSite, name)
				require.Equal(t, "/console/", found.Path, name)
				require.Equal(t, secure, found.Secure, name)
				require.Equal(t, int(age/time.Second), found.MaxAge, name)
			}

			login := do(http.MethodGet, "/console/login", nil)
			require.Equal(t, http.StatusOK, login.StatusCode)
			requireCookie(login, "courier_csrf", 365*24*time.Hour)
			token := login.Header.Get("X-Test-CSRF")
			require.NotEmpty(t, token)

			refused := do(http.MethodPost, "/console/login", url.Values{"key": {"wrong-key-0123456789"}, "csrf": {token}})
			require.Equal(t, http.StatusUnauthorized, refused.StatusCode)
			forged := do(http.MethodPost, "/console/login", url.Values{"key": {adminKey}, "csrf": {"forged"}})
			require.Equal(t, http.StatusForbidden, forged.StatusCode)
			require.Empty(t, forged.Cookies(), "a forged sign-in set a cookie")

			in := do(http.MethodPost, "/console/login", url.Values{"key": {adminKey}, "csrf": {token}})
			require.Equal(t, http.StatusSeeOther, in.StatusCode)
			requireCookie(in, "courier_session", maxAge)

			page := do(http.MethodGet, "/console/", nil)
			require.Equal(t, http.StatusOK, page.StatusCode)
			out := do(http.MethodPost, "/console/logout", url.Values{"csrf": {page.Header.Get("X-Test-CSRF")}})
			require.Equal(t, http.StatusSeeOther, out.StatusCode)
			var cleared bool
			for _, ck := range out.Cookies() {
				cleared = cleared || (ck.Name == "courier_session" && ck.MaxAge < 0)
			}
			require.True(t, cleared, "sign-out leaves the cookie in the browser")
			require.Equal(t, http.StatusSeeOther, do(http.MethodGet, "/console/", nil).StatusCode)
		})
	}
}
