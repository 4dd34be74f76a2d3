package console

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/operations"
	"github.com/courier-mq/courier/store"
)

// Config shapes the console.
type Config struct {
	// TemporalUI is the Temporal Web UI's base URL (e.g.
	// http://127.0.0.1:8233), for links from a message to its workflow;
	// empty shows no link.
	TemporalUI string
	// Namespace is the Temporal namespace of the message workflows.
	// Default "default".
	Namespace string
	// FirstCheck is the server's wait before a message's first check-back:
	// a WAITING_CONFIRM message older than it is called out. Default
	// contract.DefaultPolicy's.
	FirstCheck time.Duration
	// SessionMaxAge is how long a sign-in lasts at most; SessionIdle ends
	// one unused for that long. Defaults DefaultSessionMaxAge and
	// DefaultSessionIdle; SessionIdle may not exceed SessionMaxAge.
	SessionMaxAge time.Duration
	SessionIdle   time.Duration
	// TraceURL is the link from a message to its trace in the user's
	// tracing UI, with {trace_id} where the trace id goes (e.g.
	// http://jaeger:16686/trace/{trace_id}); empty shows the trace id
	// without a link.
	TraceURL string
}

// TraceIDPlaceholder is what TraceURL holds where the trace id goes.
const TraceIDPlaceholder = "{trace_id}"

// traceURL is the link to the trace with id, or "" without a TraceURL.
func (c Config) traceURL(id string) string {
	if c.TraceURL == "" || id == "" {
		return ""
	}
	return strings.ReplaceAll(c.TraceURL, TraceIDPlaceholder, url.PathEscape(id))
}

// SetDefaults fills the zero fields of c.
func (c *Config) SetDefaults() {
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.FirstCheck == 0 {
		c.FirstCheck = wire.DefaultTiming().CheckDelay
	}
	if c.SessionMaxAge == 0 {
		c.SessionMaxAge = DefaultSessionMaxAge
	}
	if c.SessionIdle == 0 {
		c.SessionIdle = DefaultSessionIdle
	}
}

// Validate reports every problem with a defaulted c.
func (c Config) Validate() error {
	var errs []error
	if c.TemporalUI != "" {
		u, err := url.Parse(c.TemporalUI)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("console: Temporal UI URL %q is not an http(s) URL", c.TemporalUI))
		}
	}
	if c.TraceURL != "" {
		u, err := url.Parse(strings.ReplaceAll(c.TraceURL, TraceIDPlaceholder, "0"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.Contains(c.TraceURL, TraceIDPlaceholder) {
			errs = append(errs, fmt.Errorf("console: trace URL %q is not an http(s) URL with %s in it", c.TraceURL, TraceIDPlaceholder))
		}
	}
	if c.SessionMaxAge < time.Second || c.SessionIdle < time.Second {
		errs = append(errs, fmt.Errorf("console: session max age (%s) and idle limit (%s) must be at least 1s", c.SessionMaxAge, c.SessionIdle))
	} else if c.SessionIdle > c.SessionMaxAge {
		errs = append(errs, fmt.Errorf("console: session idle limit %s is longer than the session max age %s", c.SessionIdle, c.SessionMaxAge))
	}
	return errors.Join(errs...)
}

// Deps are what the console reads and acts through.
type Deps struct {
	// Operations take the operator's actions and read a message for them.
	Operations *operations.Service
	// Messages and Store are what the pages show: the workflows' live
	// state and the mirror's counts, lists and audit log.
	Messages *contract.Client
	Store    *store.Store
	// Keys are the gateway's identities; an open keyring opens the console.
	Keys *access.Keyring
	// Throttle counts wrong keys at sign-in; the gateway shares it, so
	// that the API and the console count together. Nil: one of its own.
	Throttle *access.Throttle
	Logger   *slog.Logger
}

// Console serves the console's pages. It is an http.Handler for the paths
// under Prefix.
type Console struct {
	cfg      Config
	ops      *operations.Service
	messages *contract.Client
	store    *store.Store
	keys     *access.Keyring
	throttle *access.Throttle
	logger   *slog.Logger
	pages    *template.Template
	mux      *http.ServeMux
}

// Prefix is where the gateway mounts the console.
const Prefix = "/console/"

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// New returns the console.
func New(cfg Config, deps Deps) (*Console, error) {
	if deps.Operations == nil || deps.Messages == nil || deps.Store == nil || deps.Keys == nil {
		return nil, errors.New("console needs the operations, the contract client, the message store and the keyring")
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.TemporalUI = strings.TrimSuffix(cfg.TemporalUI, "/")
	pages, err := template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	c := &Console{cfg: cfg, ops: deps.Operations, messages: deps.Messages, store: deps.Store, keys: deps.Keys, throttle: deps.Throttle, logger: deps.Logger, pages: pages}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.throttle == nil {
		c.throttle = access.NewThrottle(c.logger, access.Proxies{})
	}
	static, _ := fs.Sub(staticFiles, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /console/login", c.loginPage)
	mux.HandleFunc("POST /console/login", c.login)
	mux.HandleFunc("POST /console/logout", c.logout)
	mux.Handle("GET /console/{$}", c.admin(c.overview))
	mux.Handle("GET /console/messages", c.admin(c.list))
	mux.Handle("GET /console/messages/{id}", c.admin(c.detail))
	mux.Handle("POST /console/messages/{id}/{action}", c.admin(c.act))
	mux.Handle("POST /console/redrive", c.admin(c.redriveTopic))
	mux.Handle("POST /console/bulk", c.admin(c.bulk))
	mux.Handle("GET /console/audit", c.admin(c.audit))
	mux.Handle("GET /console/access", c.admin(c.access))
	c.mux = mux
	return c, nil
}

// ServeHTTP serves a console request with the console's security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	r = ensureCSRF(w, r)
	c.mux.ServeHTTP(w, r)
}

// handler is a console page with its caller's identity.
type handler func(w http.ResponseWriter, r *http.Request, who access.Identity)

// admin lets only an admin session through: a page request without one goes
// to the sign-in page, a form post is refused. Every post must carry its
// CSRF token.
func (c *Console) admin(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, err := c.who(r)
		if err != nil && !errors.Is(err, errNoSession) {
			c.logger.Warn("console: read session", "error", err)
			c.fail(w, r, http.StatusServiceUnavailable, "The mirror database, which keeps the console's sessions, is unavailable; try again shortly.")
			return
		}
		if err != nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, http.StatusUnauthorized, "Sign in with an admin's API key first.")
			return
		}
		if r.Method == http.MethodPost && !checkCSRF(r) {
			c.badToken(w, r)
			return
		}
		h(w, signedIn(r, who), who)
	})
}

// view is what every page template gets.
type view struct {
	Title string
	// Who is the operator's name; Open is true when the console has no keys.
	Who  string
	Open bool
	CSRF string
	Data any
	// AsOf is when the page was made; Refresh is its auto-refresh period
	// in seconds (0: none) and RefreshLinks choose it (see refresh.go).
	AsOf         time.Time
	Refresh      int
	RefreshLinks []refreshLink
}

// render writes page with data, as who.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page, title string, data any) {
	v := view{Title: title, Who: caller(r).Name, Open: c.keys.Open(), CSRF: csrfToken(r), Data: data, AsOf: time.Now().UTC()}
	v.Refresh, v.RefreshLinks = refresh(w, r, page)
	var b strings.Builder
	if err := c.pages.ExecuteTemplate(&b, page, v); err != nil {
		c.logger.Error("console: render", "page", page, "error", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// badToken refuses a form without its CSRF token.
func (c *Console) badToken(w http.ResponseWriter, r *http.Request) {
	c.fail(w, r, http.StatusForbidden, "The form's security token is missing or wrong: reload the page and try again.")
}

// fail renders an error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, r, status, "error.html", http.StatusText(status), msg)
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.keys.Open() {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "login.html", "Sign in", c.loginData(safeNext(r.URL.Query().Get("next")), ""))
}

type loginData struct {
	Next  string
	Error string
	// MaxAge and Idle are the session limits, for the page to state.
	MaxAge, Idle string
}

func (c *Console) loginData(next, msg string) loginData {
	return loginData{Next: next, Error: msg, MaxAge: ago(c.cfg.SessionMaxAge), Idle: ago(c.cfg.SessionIdle)}
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !checkCSRF(r) {
		c.badToken(w, r)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	if c.keys.Open() {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	// Wrong keys are counted by address and refused past the limit
	// before the key is compared: guessing cannot go on from there, while
	// the same key from elsewhere still works.
	addr := c.throttle.ClientAddress(r)
	if wait, ok := c.throttle.Allow(access.ByAddress, addr); !ok {
		c.tooMany(w, r, wait)
		return
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	id, err := c.keys.Find(key)
	if err != nil {
		if ref := (*access.Refusal)(nil); errors.As(err, &ref) && ref.Reason == access.BadKey {
			c.throttle.Fail(access.ByAddress, addr)
		}
		c.render(w, r, http.StatusUnauthorized, "login.html", "Sign in", c.loginData(next, "This API key is not valid."))
		return
	}
	if wait, ok := c.throttle.Allow(access.ByIdentity, id.Name); !ok {
		c.tooMany(w, r, wait)
		return
	}
	if !id.Is(access.Admin) {
		c.throttle.Fail(access.ByIdentity, id.Name)
		c.render(w, r, http.StatusUnauthorized, "login.html", "Sign in", c.loginData(next, "This API key is not an admin's: the console is for operators."))
		return
	}
	if err := c.signIn(w, r, id, key); err != nil {
		c.logger.Warn("console: sign-in", "by", id.Name, "error", err)
		c.fail(w, r, http.StatusServiceUnavailable, "The mirror database, which keeps the console's sessions, is unavailable; try again shortly.")
		return
	}
	c.logger.Info("console sign-in", "by", id.Name)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// tooMany refuses a sign-in from an address or identity over the throttle's
// limit, saying when to try again.
func (c *Console) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)))
	c.fail(w, r, http.StatusTooManyRequests, fmt.Sprintf("Too many wrong keys: try again in %d seconds.", int(wait/time.Second)))
}

// logout ends the session on the server, then in the browser.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if !checkCSRF(r) {
		c.badToken(w, r)
		return
	}
	if err := c.endSession(r); err != nil {
		c.logger.Warn("console: sign-out", "error", err)
		c.fail(w, r, http.StatusServiceUnavailable, "The mirror database, which keeps the console's sessions, is unavailable: you are still signed in. Try again shortly.")
		return
	}
	forgetSession(w, r)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect inside the console.
func safeNext(next string) string {
	if strings.HasPrefix(next, Prefix) && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return Prefix
}
