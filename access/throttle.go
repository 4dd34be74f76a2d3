package access

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Scope is what a Throttle counts failures of.
type Scope string

// The scopes, which label the gateway's throttled requests metric.
const (
	// ByAddress counts wrong keys by the client's address (ClientAddress).
	ByAddress Scope = "address"
	// ByIdentity counts refusals of a valid key for lack of role, by the
	// key's identity name.
	ByIdentity Scope = "identity"
)

// Scopes are every Scope, in a fixed order.
var Scopes = []Scope{ByAddress, ByIdentity}

// Throttle limits.
const (
	// ThrottleLimit is how many failures a client address or an identity
	// may have in one ThrottleWindow; the next key check is refused until
	// the window ends.
	ThrottleLimit = 60
	// ThrottleWindow is the window failures are counted in. It starts at the
	// first failure and is not extended by later ones.
	ThrottleWindow = time.Minute
	// throttleMaxTracked bounds the windows a Throttle keeps per scope, so
	// that failures from ever new addresses cannot grow its memory without
	// bound. Past it (after dropping ended windows) a new address is not
	// counted until room frees.
	throttleMaxTracked = 100_000
)

// Throttle counts failed key checks per client address and per identity in
// fixed windows, and refuses further checks of one over ThrottleLimit until
// its window ends. It counts in the memory of one process: each gateway of a
// deployment keeps its own counts. It is safe for concurrent use.
//
// A caller asks Allow before it compares a key, and reports a failure with
// Fail. Counting by address stops guessing from that address without
// touching the key: the same key presented from any other address is
// checked as usual, so an attacker cannot lock a legitimate key out.
type Throttle struct {
	logger *slog.Logger
	// proxies are the reverse proxies whose X-Forwarded-For ClientAddress
	// believes.
	proxies Proxies
	// now is the clock; time.Now outside tests.
	now func() time.Time
	// max bounds the windows kept per scope (throttleMaxTracked).
	max int

	mu     sync.Mutex
	scopes map[Scope]*tally
}

// tally is one scope's windows and how many checks it refused.
type tally struct {
	windows   map[string]*window
	refused   uint64
	lastSweep time.Time
}

// window is the failures of one address or identity since start.
type window struct {
	start    time.Time
	failures int
	// warned is set once the window's first refusal is logged.
	warned bool
}

// NewThrottle returns an empty throttle that logs to logger (nil:
// slog.Default()) and counts requests through proxies by the client
// address they forward.
func NewThrottle(logger *slog.Logger, proxies Proxies) *Throttle {
	if logger == nil {
		logger = slog.Default()
	}
	t := &Throttle{logger: logger, proxies: proxies, now: time.Now, max: throttleMaxTracked, scopes: map[Scope]*tally{}}
	for _, s := range Scopes {
		t.scopes[s] = &tally{windows: map[string]*window{}}
	}
	return t
}

// ClientAddress is the address the throttle counts r's wrong keys under:
// its peer's, or behind a trusted proxy the client's it forwards (see
// Proxies.ClientAddress).
func (t *Throttle) ClientAddress(r *http.Request) string {
	return t.proxies.ClientAddress(r)
}

// Allow reports whether a key check for who (an address or an identity
// name, as scope says) may go on. When it may not, wait is how long until
// its window ends, rounded up to whole seconds: what Retry-After says. The
// first refusal of a window is logged as a warning, the others only
// counted (Refused).
func (t *Throttle) Allow(scope Scope, who string) (wait time.Duration, ok bool) {
	now := t.now()
	t.mu.Lock()
	tl := t.scopes[scope]
	w := tl.windows[who]
	if w == nil || !now.Before(w.start.Add(ThrottleWindow)) || w.failures < ThrottleLimit {
		t.mu.Unlock()
		return 0, true
	}
	tl.refused++
	first := !w.warned
	w.warned = true
	wait = w.start.Add(ThrottleWindow).Sub(now)
	t.mu.Unlock()
	if r := wait % time.Second; r != 0 {
		wait += time.Second - r
	}
	if first {
		t.logger.Warn("too many refused API keys: further key checks are refused until the window ends",
			string(scope), who, "failures", ThrottleLimit, "window", ThrottleWindow, "retry_after", wait)
	}
	return wait, false
}

// Fail counts one failed key check of who: a wrong key from an address, or
// a valid key refused for lack of role for an identity.
func (t *Throttle) Fail(scope Scope, who string) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	tl := t.scopes[scope]
	if now.Sub(tl.lastSweep) >= ThrottleWindow || (len(tl.windows) >= t.max && now.Sub(tl.lastSweep) >= time.Second) {
		tl.sweep(now)
	}
	if w := tl.windows[who]; w != nil && now.Before(w.start.Add(ThrottleWindow)) {
		w.failures++
		return
	}
	if len(tl.windows) >= t.max {
		delete(tl.windows, who) // an ended window of who, if any
		if len(tl.windows) >= t.max {
			return
		}
	}
	tl.windows[who] = &window{start: now, failures: 1}
}

// sweep drops the windows that have ended.
func (tl *tally) sweep(now time.Time) {
	for who, w := range tl.windows {
		if !now.Before(w.start.Add(ThrottleWindow)) {
			delete(tl.windows, who)
		}
	}
	tl.lastSweep = now
}

// Refused is how many key checks of scope Allow has refused.
func (t *Throttle) Refused(scope Scope) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.scopes[scope].refused
}

// peerAddress is the address a Throttle counts for a connection from
// remoteAddr ("host:port", as net/http's Request.RemoteAddr), trusting
// nothing the client sends: its IP, or for IPv6 its /64 network (see
// network); a remoteAddr that is no IP counts as itself.
func peerAddress(remoteAddr string) string {
	if ip, ok := hopAddr(remoteAddr); ok {
		return network(ip)
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// network is what ip is counted as: itself, or for IPv6 its /64 network,
// which one machine usually holds whole.
func network(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}
