package conformance

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// proxy fronts Courier for the adapters: each adapter's client calls
// <proxy>/<adapter name>/v1/..., so that the runner sees who sends what and
// can kill an adapter right when it sends a confirm or a complete, or fail
// its calls, as a network would.
type proxy struct {
	courier *url.URL
	fwd     *httputil.ReverseProxy

	mu    sync.Mutex
	rules []*rule
}

// rule acts on one adapter's requests of one kind (confirm, cancel,
// complete) for one message, or for any when id is empty.
type rule struct {
	adapter string
	id      string
	action  string
	// kill kills the adapter and drops the request (once); otherwise the
	// request is answered 503, every time.
	kill func()
	done bool
}

func newProxy(courierURL string) (*proxy, error) {
	u, err := url.Parse(courierURL)
	if err != nil {
		return nil, err
	}
	p := &proxy{courier: u}
	p.fwd = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.URL.Path = r.In.URL.Path
		r.Out.URL.RawPath = ""
	}}
	return p, nil
}

// add arms r.
func (p *proxy) add(r *rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, r)
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	r.URL.Path = "/" + rest
	p.mu.Lock()
	var hit *rule
	for _, ru := range p.rules {
		if !ru.done && ru.adapter == name && ru.matches(r.URL.Path) {
			hit = ru
			if ru.kill != nil {
				ru.done = true
			}
			break
		}
	}
	p.mu.Unlock()
	if hit != nil {
		if hit.kill != nil {
			hit.kill()
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"code":"unavailable","message":"the conformance runner failed this call"}}`))
		return
	}
	p.fwd.ServeHTTP(w, r)
}

// matches reports whether path is the rule's request:
// /v1/messages/<id>/<action>.
func (ru *rule) matches(path string) bool {
	rest, ok := strings.CutPrefix(path, "/v1/messages/")
	if !ok {
		return false
	}
	id, action, ok := strings.Cut(rest, "/")
	return ok && action == ru.action && (ru.id == "" || ru.id == id)
}
