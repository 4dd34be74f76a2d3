package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/courier-mq/courier/access"
)

// Cookie names. Both are HttpOnly and SameSite=Strict, limited to /console/.
const (
	sessionCookie = "courier_session"
	csrfCookie    = "courier_csrf"
)

// sessionAge is how long a sign-in lasts.
const sessionAge = 8 * time.Hour

// errNotAdmin refuses a sign-in with a key that is valid but not an admin's.
var errNotAdmin = errors.New("this key is not an admin's: the console is for operators")

// who is the identity of r: access.Anonymous on an open console, else the
// admin whose key the session cookie holds. ok is false when r has no valid
// admin session.
func (c *Console) who(r *http.Request) (id access.Identity, ok bool) {
	if c.keys.Open() {
		return access.Anonymous, true
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return access.Identity{}, false
	}
	id, err = c.keys.Find(ck.Value)
	if err != nil || !id.Is(access.Admin) {
		return access.Identity{}, false
	}
	return id, true
}

// signIn checks key and sets the session cookie.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request, key string) (access.Identity, error) {
	id, err := c.keys.Find(key)
	if err != nil {
		return access.Identity{}, err
	}
	if !id.Is(access.Admin) {
		return access.Identity{}, errNotAdmin
	}
	http.SetCookie(w, cookie(r, sessionCookie, key, sessionAge))
	return id, nil
}

// signOut clears the session cookie.
func signOut(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, cookie(r, sessionCookie, "", -1))
}

func cookie(r *http.Request, name, value string, age time.Duration) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/console/",
		MaxAge:   int(age / time.Second),
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
