package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
)

// Cookie names. Both are HttpOnly and SameSite=Strict, limited to /console/.
const (
	sessionCookie = "courier_session"
	csrfCookie    = "courier_csrf"
)

// Session limits: Config.SessionMaxAge and Config.SessionIdle when zero.
const (
	// DefaultSessionMaxAge is how long a sign-in lasts at most, however it
	// is used.
	DefaultSessionMaxAge = 8 * time.Hour
	// DefaultSessionIdle ends a sign-in not used for this long.
	DefaultSessionIdle = 30 * time.Minute
)

// maxTouchInterval is the longest a session's use goes unrecorded: its
// last_seen_at is written at most this often (a tenth of the idle limit when
// that is shorter), not at every page.
const maxTouchInterval = time.Minute

// sweepBatch bounds the expired sessions one sign-in deletes. Each sign-in
// adds one row and deletes up to this many, so expired rows cannot pile up.
const sweepBatch = 100

// errNoSession is a request without a live session: none, unknown, ended,
// expired, idle too long, or made with a key no longer configured as an
// admin's.
var errNoSession = errors.New("no console session")

// whoKey is the request context key of the signed-in identity.
type whoKey struct{}

// signedIn is who as the identity of r's later handlers.
func signedIn(r *http.Request, who access.Identity) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), whoKey{}, who))
}

// caller is the identity admin let through, or the zero Identity on a page
// outside it (sign-in).
func caller(r *http.Request) access.Identity {
	who, _ := r.Context().Value(whoKey{}).(access.Identity)
	return who
}

// sessionID is the store's name of the session whose cookie holds value:
// its hex SHA-256, so that a database reader cannot use a row as a cookie.
func sessionID(value string) string {
	d := sha256.Sum256([]byte(value))
	return hex.EncodeToString(d[:])
}

// who is the identity of r: access.Anonymous on an open console, else the
// admin whose live session the cookie names. errNoSession says there is
// none (a session found ended is deleted); another error is the store's.
func (c *Console) who(r *http.Request) (access.Identity, error) {
	if c.keys.Open() {
		return access.Anonymous, nil
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return access.Identity{}, errNoSession
	}
	ctx := r.Context()
	id := sessionID(ck.Value)
	sess, err := c.store.Session(ctx, id)
	if errors.Is(err, models.ErrNotFound) {
		return access.Identity{}, errNoSession
	}
	if err != nil {
		return access.Identity{}, err
	}
	now := time.Now()
	ended := ""
	who, ferr := c.keys.FindFingerprint(sess.KeyFingerprint)
	switch {
	case !now.Before(sess.ExpiresAt):
		ended = "expired"
	case now.Sub(sess.LastSeenAt) >= c.cfg.SessionIdle:
		ended = "idle"
	case ferr != nil || !who.Is(access.Admin) || who.Name != sess.Identity:
		ended = "key removed"
	}
	if ended != "" {
		c.logger.Info("console session ended", "by", sess.Identity, "why", ended)
		if err := c.store.DeleteSession(ctx, id); err != nil {
			c.logger.Warn("console: delete ended session", "error", err)
		}
		return access.Identity{}, errNoSession
	}
	if now.Sub(sess.LastSeenAt) >= min(maxTouchInterval, c.cfg.SessionIdle/10) {
		// A failed touch costs the session at most one interval of idle
		// time; the page is still served.
		if err := c.store.TouchSession(ctx, id, now); err != nil {
			c.logger.Warn("console: record session use", "error", err)
		}
	}
	return who, nil
}

// signIn starts a session for who, who presented key: a random cookie,
// stored only by its hash, with the key only by its fingerprint. The
// session the browser had, if any, ends.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request, who access.Identity, key string) error {
	ctx := r.Context()
	now := time.Now()
	if _, err := c.store.DeleteExpiredSessions(ctx, now, sweepBatch); err != nil {
		c.logger.Warn("console: delete expired sessions", "error", err)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	value := base64.RawURLEncoding.EncodeToString(b)
	err := c.store.CreateSession(ctx, store.Session{
		ID: sessionID(value), Identity: who.Name, KeyFingerprint: access.Fingerprint(key),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(c.cfg.SessionMaxAge),
	})
	if err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	if err := c.endSession(r); err != nil {
		c.logger.Warn("console: end the previous session", "error", err)
	}
	http.SetCookie(w, cookie(r, sessionCookie, value, c.cfg.SessionMaxAge))
	return nil
}

// endSession deletes the session r's cookie names, if any.
func (c *Console) endSession(r *http.Request) error {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	return c.store.DeleteSession(r.Context(), sessionID(ck.Value))
}

// forgetSession asks the browser to drop its session cookie.
func forgetSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, cookie(r, sessionCookie, "", -1))
}

func cookie(r *http.Request, name, value string, age time.Duration) *http.Cookie {
	maxAge := int(age / time.Second)
	if age < 0 {
		maxAge = -1
	}
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/console/",
		MaxAge:   maxAge,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
	}
}

// csrfToken is the token r's forms must carry: an HMAC, keyed by the
// browser's random CSRF cookie, of its session. A page from another site can
// neither read the cookies nor compute it. ensureCSRF must have run for r.
func csrfToken(r *http.Request) string {
	secret, session := "", ""
	if ck, err := r.Cookie(csrfCookie); err == nil {
		secret = ck.Value
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		session = ck.Value
	}
	if secret == "" {
		return ""
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("courier-console-csrf|" + session))
	return hex.EncodeToString(mac.Sum(nil))
}

// ensureCSRF gives the browser its random CSRF cookie when it has none, and
// returns r as later handlers must see it (with the cookie).
func ensureCSRF(w http.ResponseWriter, r *http.Request) *http.Request {
	if _, err := r.Cookie(csrfCookie); err == nil {
		return r
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	ck := cookie(r, csrfCookie, base64.RawURLEncoding.EncodeToString(b), 365*24*time.Hour)
	http.SetCookie(w, ck)
	r = r.Clone(r.Context())
	r.AddCookie(ck)
	return r
}

// checkCSRF reports whether the form of r carries its token.
func checkCSRF(r *http.Request) bool {
	want := csrfToken(r)
	got := r.PostFormValue("csrf")
	return want != "" && hmac.Equal([]byte(got), []byte(want))
}
