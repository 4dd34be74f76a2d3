package gateway_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/contract"
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
		st := decode[contract.State](t, r)
		require.Len(t, st.Signals, 1)
		require.Equal(t, "orders-svc", st.Signals[0].By)
	})
}
