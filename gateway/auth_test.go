package gateway_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/gateway"
)

func testAuth(t *testing.T, e *env) {
	type route struct {
		method, path string
		body         any
		roles        []string // besides admin
	}
	routes := []route{
		// Allowed callers get past authentication to a 400 or 404: nothing is created.
		{http.MethodPost, "/v1/messages", map[string]any{}, []string{"producer"}},
		{http.MethodPost, "/v1/messages/send", map[string]any{}, []string{"producer"}},
		{http.MethodPost, "/v1/messages/auth-none/confirm", nil, []string{"producer"}},
		{http.MethodPost, "/v1/messages/auth-none/cancel", nil, []string{"producer"}},
		{http.MethodPost, "/v1/messages/auth-none/complete", nil, []string{"consumer"}},
		{http.MethodPost, "/v1/messages/auth-none/redrive", nil, nil},
		{http.MethodPost, "/v1/messages/redrive", map[string]any{}, nil},
		{http.MethodGet, "/v1/messages", nil, []string{"producer"}},
		{http.MethodGet, "/v1/messages/auth-none", nil, []string{"producer", "consumer"}},
		{http.MethodGet, "/v1/stats", nil, nil},
	}
	keys := map[string]string{"producer": producerKey, "consumer": consumerKey, "admin": adminKey}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			t.Parallel()
			call := func(hdr map[string]string) response {
				return e.keyed.do(t, request{Method: rt.method, Path: rt.path, JSON: rt.body, Header: hdr})
			}
			r := call(nil)
			requireError(t, r, http.StatusUnauthorized, "unauthorized")
			require.Equal(t, `Bearer realm="courier"`, r.Header.Get("WWW-Authenticate"))
			requireError(t, call(map[string]string{"Authorization": "Bearer not-a-key-0123456789"}), http.StatusUnauthorized, "unauthorized")
			requireError(t, call(map[string]string{"Authorization": "Basic " + adminKey}), http.StatusUnauthorized, "unauthorized")
			requireError(t, call(map[string]string{"X-API-Key": adminKey[:len(adminKey)-1]}), http.StatusUnauthorized, "unauthorized")
			for role, key := range keys {
				allowed := role == "admin"
				for _, r := range rt.roles {
					allowed = allowed || r == role
				}
				for _, hdr := range []map[string]string{
					{"Authorization": "Bearer " + key},
					{"Authorization": "bearer " + key},
					{"X-API-Key": key},
				} {
					r := call(hdr)
					if allowed {
						require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, r.Status, "%s with %v: %s", role, hdr, r.Body)
					} else {
						requireError(t, r, http.StatusForbidden, "forbidden")
					}
				}
			}
		})
	}

	t.Run("open endpoints", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.yaml"} {
			require.Equal(t, http.StatusOK, e.keyed.get(t, path).Status, path)
		}
	})

	t.Run("decisions name the caller", func(t *testing.T) {
		t.Parallel()
		const id = "auth-by-1"
		r := e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages", JSON: e.message(id), Key: producerKey})
		require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)
		r = e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages/" + id + "/cancel", Key: producerKey})
		require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
		r = e.keyed.do(t, request{Method: http.MethodGet, Path: "/v1/messages/" + id + "?live=1", Key: adminKey})
		require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
		st := decode[wire.Message](t, r)
		require.Len(t, st.Signals, 1)
		require.Equal(t, "orders-svc", st.Signals[0].By)
	})
}

// testIdentitiesLogged: a gateway with keys says once, at start, which
// identities it loaded (name, roles, topics), and never a key or its hash.
func testIdentitiesLogged(t *testing.T, e *env) {
	var buf bytes.Buffer
	deps := e.deps(t, nil)
	deps.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, err := gateway.New(gateway.Config{CheckURLAllowHosts: []string{gateway.AllowLoopback}, APIKeys: identities()}, deps)
	require.NoError(t, err)
	logged := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		if rec["msg"] == "API identity loaded" {
			name, _ := rec["name"].(string)
			require.NotContains(t, logged, name, "%s logged twice", name)
			logged[name] = rec
		}
	}
	want := map[string]string{
		orders: "producer", billing: "producer", "payments": "producer",
		"accounting": "consumer", "shipping": "consumer", "audit": "consumer", "ops": "admin",
	}
	require.Len(t, logged, len(want), "one line per identity:\n%s", buf.String())
	for name, role := range want {
		require.Contains(t, logged, name)
		require.Equal(t, []any{role}, logged[name]["roles"], name)
	}
	require.Equal(t, []any{topic}, logged[billing]["topics"])
	require.EqualValues(t, 2, logged["ops"]["keys"], "ops has two keys while one replaces the other")
	for _, k := range identities() {
		hash := k.SHA256
		if k.Secret != "" {
			require.NotContains(t, buf.String(), k.Secret, "the log shows %s's key", k.Name)
			hash = strings.TrimPrefix(access.Hash(k.Secret), "sha256:")
		}
		require.NotContains(t, buf.String(), hash, "the log shows the hash of %s's key", k.Name)
	}
}
