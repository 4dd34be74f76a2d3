package gateway_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"
	"gopkg.in/yaml.v3"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/gateway"
	"github.com/courier-mq/courier/internal/freeport"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

func testHealth(t *testing.T, e *env) {
	r := e.keyed.get(t, "/healthz")
	require.Equal(t, http.StatusOK, r.Status)
	require.JSONEq(t, `{"status":"ok"}`, string(r.Body))
	r = e.keyed.get(t, "/readyz")
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.JSONEq(t, `{"status":"ready","checks":{"temporal":"ok","mirror":"ok","kafka":"ok"}}`, string(r.Body))
}

func testReadyzUnavailable(t *testing.T, e *env) {
	down := serve(t, gateway.Config{}, e.deps(t, func(context.Context) error {
		return errors.New("dial tcp 10.1.2.3:9092: connection refused")
	}))
	msg := requireError(t, down.get(t, "/readyz"), http.StatusServiceUnavailable, "unavailable")
	require.Contains(t, msg, "kafka")
	require.NotContains(t, msg, "temporal")
	require.NotContains(t, msg, "10.1.2.3", "internal addresses stay in the log")
	require.Equal(t, http.StatusOK, down.get(t, "/healthz").Status, "liveness does not depend on Kafka")
}

func testDependenciesUnavailable(t *testing.T, e *env) {
	// A Temporal frontend that is not there, and a mirror that is closed.
	port, err := freeport.Port("127.0.0.1") // outside the range outgoing connections take theirs from
	require.NoError(t, err)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	tc, err := client.NewLazyClient(client.Options{HostPort: addr})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	closed, err := store.Open(t.Context(), storetest.SQLiteConfig(t))
	require.NoError(t, err)
	require.NoError(t, closed.Close())

	down := serve(t, gateway.Config{CheckURLAllowHosts: []string{gateway.AllowLoopback}},
		over(t, messages(t, tc, "", closed), closed))
	msg := requireError(t, down.get(t, "/readyz"), http.StatusServiceUnavailable, "unavailable")
	require.Contains(t, msg, "mirror, temporal")
	requireError(t, down.post(t, "/v1/messages", e.message("down-1")), http.StatusServiceUnavailable, "unavailable")
	requireError(t, down.post(t, "/v1/messages/down-1/confirm", nil), http.StatusServiceUnavailable, "unavailable")
	requireError(t, down.get(t, "/v1/messages/down-1"), http.StatusServiceUnavailable, "unavailable")
	requireError(t, down.get(t, "/v1/messages"), http.StatusServiceUnavailable, "unavailable")
	requireError(t, down.get(t, "/v1/stats"), http.StatusServiceUnavailable, "unavailable")
	// Bad input is still a 400, whatever the dependencies do.
	requireError(t, down.post(t, "/v1/messages", map[string]any{"topic": "orders"}), http.StatusBadRequest, "invalid_request")
}

func testNoWorker(t *testing.T, e *env) {
	// No worker polls this task queue: the workflow starts but never runs, so
	// neither its state query nor the mirror can answer.
	idle := serve(t, gateway.Config{CheckURLAllowHosts: []string{gateway.AllowLoopback}},
		over(t, messages(t, e.stack.Client, "nobody-polls", e.stack.Store), e.stack.Store))
	const id = "idle-1"
	r := idle.post(t, "/v1/messages", e.message(id))
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)

	r = idle.get(t, "/v1/messages/"+id)
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	v := decode[view](t, r)
	require.Equal(t, "workflow", v.Source)
	require.Equal(t, wire.StatusWaitingConfirm, v.Status, "from the search attribute set at start")
	require.Equal(t, topic, v.Topic)

	r = idle.post(t, "/v1/messages/"+id+"/confirm", nil)
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.Equal(t, signalResponse{ID: id, Status: wire.StatusWaitingConfirm, PreviousStatus: wire.StatusWaitingConfirm, Outcome: "applied"}, decode[signalResponse](t, r),
		"the signal waits for a worker: the message is where it was")
	requireError(t, idle.get(t, "/v1/messages/"+id+"?live=1"), http.StatusServiceUnavailable, "unavailable")

	// A consumer may already hold a message whose state the gateway can only
	// read from a lagging source: its complete is not refused on that
	// source's word but handed to the workflow, which decides it when it runs.
	r = idle.post(t, "/v1/messages/"+id+"/complete", map[string]any{"consumer": "accounting"})
	require.Equal(t, http.StatusAccepted, r.Status, "body: %s", r.Body)
	require.Equal(t, signalResponse{ID: id, Status: wire.StatusWaitingConfirm, PreviousStatus: wire.StatusWaitingConfirm, Outcome: "accepted",
		Reason: why("its workflow did not answer in time: the request was sent, and the workflow decides it when it runs")}, decode[signalResponse](t, r))
	var signalled []string
	iter := e.stack.Client.GetWorkflowHistory(context.Background(), "msg-"+id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil {
			signalled = append(signalled, a.GetSignalName())
		}
	}
	require.Equal(t, []string{"confirm", "complete"}, signalled, "both signals wait in the history for a worker")
}

func testMetrics(t *testing.T, e *env) {
	m := serve(t, gateway.Config{CheckURLAllowHosts: []string{gateway.AllowLoopback}}, e.deps(t, nil))
	require.Equal(t, http.StatusCreated, m.post(t, "/v1/messages", e.message("metrics-1")).Status)
	require.Equal(t, http.StatusOK, m.post(t, "/v1/messages/metrics-1/confirm", nil).Status)
	require.Equal(t, http.StatusOK, m.post(t, "/v1/messages/metrics-1/confirm", nil).Status)
	require.Equal(t, http.StatusConflict, m.post(t, "/v1/messages/metrics-1/cancel", nil).Status)
	require.Equal(t, http.StatusNotFound, m.get(t, "/v1/messages/nobody").Status)
	require.Equal(t, http.StatusNotFound, m.get(t, "/no/such/route/1").Status)
	require.Equal(t, http.StatusNotFound, m.get(t, "/no/such/route/2").Status)

	r := m.get(t, "/metrics")
	require.Equal(t, http.StatusOK, r.Status)
	body := string(r.Body)
	for _, line := range []string{
		`courier_gateway_requests_total{code="201",method="POST",route="/v1/messages"} 1`,
		`courier_gateway_requests_total{code="200",method="POST",route="/v1/messages/:id/confirm"} 2`,
		`courier_gateway_requests_total{code="409",method="POST",route="/v1/messages/:id/cancel"} 1`,
		`courier_gateway_requests_total{code="404",method="GET",route="/v1/messages/:id"} 1`,
		`courier_gateway_requests_total{code="404",method="other",route="unmatched"} 2`,
		`courier_gateway_request_duration_seconds_count{method="POST",route="/v1/messages"} 1`,
		`courier_gateway_signals_total{outcome="applied",signal="confirm"} 1`,
		`courier_gateway_signals_total{outcome="repeated",signal="confirm"} 1`,
		`courier_gateway_signals_total{outcome="rejected",signal="cancel"} 1`,
	} {
		require.Contains(t, body, line+"\n")
	}
	require.NotContains(t, body, "/no/such/route", "unmatched paths never become labels")
}

func testOpenAPI(t *testing.T, e *env) {
	r := e.keyed.get(t, "/openapi.yaml")
	require.Equal(t, http.StatusOK, r.Status)
	var doc struct {
		OpenAPI    string                          `yaml:"openapi"`
		Paths      map[string]map[string]yaml.Node `yaml:"paths"`
		Components map[string]map[string]yaml.Node `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal(r.Body, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3.0."), "OpenAPI 3.0, got %q", doc.OpenAPI)

	var documented []string
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	var served []string
	for _, route := range e.keyed.srv.Routes() {
		served = append(served, route.Method+" "+route.Path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	require.Equal(t, served, documented, "openapi.yaml lists exactly the routes served")

	// Every $ref points at a component that exists.
	for _, ref := range refs(r.Body) {
		parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
		require.Len(t, parts, 2, ref)
		require.Contains(t, doc.Components[parts[0]], parts[1], "dangling %s", ref)
	}
}

// refs lists the $ref targets of an OpenAPI document.
func refs(doc []byte) []string {
	var out []string
	for _, line := range strings.Split(string(doc), "\n") {
		for rest := line; ; {
			i := strings.Index(rest, "$ref: '")
			if i < 0 {
				break
			}
			rest = rest[i+len("$ref: '"):]
			end := strings.Index(rest, "'")
			out = append(out, rest[:end])
			rest = rest[end:]
		}
	}
	return out
}

func testRoutingErrors(t *testing.T, e *env) {
	requireError(t, e.keyed.get(t, "/v2/messages"), http.StatusNotFound, "not_found")
	requireError(t, e.keyed.get(t, "/v1/messages/x/confirm"), http.StatusMethodNotAllowed, "method_not_allowed")
	requireError(t, e.keyed.do(t, request{Method: http.MethodDelete, Path: "/v1/messages", Key: adminKey}), http.StatusMethodNotAllowed, "method_not_allowed")
	requireError(t, e.keyed.do(t, request{Method: http.MethodPut, Path: "/v1/stats"}), http.StatusMethodNotAllowed, "method_not_allowed")
}

func testRun(t *testing.T, e *env) {
	// The Kafka probe blocks until released: a /readyz request is in flight
	// while the server shuts down.
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	srv, err := gateway.New(gateway.Config{}, e.deps(t, func(ctx context.Context) error {
		once.Do(func() { close(entered) })
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	require.NoError(t, err)
	port, err := freeport.Port("127.0.0.1") // outside the range outgoing connections take theirs from
	require.NoError(t, err)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var g errgroup.Group
	g.Go(func() error { return srv.Run(ctx, addr) })
	a := &api{srv: srv, url: "http://" + addr}
	require.Eventually(t, func() bool {
		r, err := a.try(request{Method: http.MethodGet, Path: "/healthz"})
		return err == nil && r.Status == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond)

	inFlight := make(chan response, 1)
	go func() {
		r, _ := a.try(request{Method: http.MethodGet, Path: "/readyz"})
		inFlight <- r
	}()
	<-entered
	cancel()
	// New connections are refused once shutdown begins.
	require.Eventually(t, func() bool {
		_, err := net.DialTimeout("tcp", addr, time.Second)
		return err != nil
	}, 10*time.Second, 10*time.Millisecond)
	close(release)
	r := <-inFlight
	require.Equal(t, http.StatusOK, r.Status, "the in-flight request finished: %s", r.Body)
	require.NoError(t, g.Wait())
}
