package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/gateway"
	"github.com/courier-mq/courier/internal/teststack"
	"github.com/courier-mq/courier/operations"
	"github.com/courier-mq/courier/store"
)

// Topics of the shared stack. bulkTopic holds only the messages of the bulk
// re-drive test, so that it can count them.
const (
	topic     = "orders"
	bulkTopic = "bulk-redrive"
)

// API keys of the keyed gateway. producerKey, consumerKey and adminKey are
// one per role; the others are the identities of the access matrix
// (access_test.go).
const (
	producerKey     = "producer-key-0123456789"
	billingKey      = "billing-key-0123456789"
	paymentsKey     = "payments-key-0123456789"
	consumerKey     = "consumer-key-0123456789"
	shippingKey     = "shipping-key-0123456789"
	auditKey        = "audit-key-0123456789abc"
	adminKey        = "admin-key-0123456789abc"
	adminNextKey    = "admin-next-key-0123456789"
	orders, billing = "orders-svc", "billing"
)

// identities are the keyed gateway's keys, some given by their hash as
// production configures them, and two for ops while one replaces the other.
func identities() []access.Key {
	hash := func(secret string) string { return strings.TrimPrefix(access.Hash(secret), "sha256:") }
	producer, consumer := []access.Role{access.Producer}, []access.Role{access.Consumer}
	return []access.Key{
		{Secret: producerKey, Name: orders, Roles: producer, Topics: []string{topic, bulkTopic}},
		{SHA256: hash(billingKey), Name: billing, Roles: producer, Topics: []string{topic}},
		{Secret: paymentsKey, Name: "payments", Roles: producer, Topics: []string{"payments.*"}},
		{Secret: consumerKey, Name: "accounting", Roles: consumer, Topics: []string{topic}},
		{SHA256: hash(shippingKey), Name: "shipping", Roles: consumer, Topics: []string{"*"}},
		{Secret: auditKey, Name: "audit", Roles: consumer, Topics: []string{bulkTopic}},
		{Secret: adminKey, Name: "ops", Roles: []access.Role{access.Admin}},
		{SHA256: hash(adminNextKey), Name: "ops", Roles: []access.Role{access.Admin}},
	}
}

// env is one Courier engine shared by every test of the binary, with
// gateways in front of it.
type env struct {
	stack *teststack.Stack
	// open has no API keys and allows loopback check URLs.
	open *api
	// keyed has the keys of identities().
	keyed *api
}

// api is a gateway served over real HTTP.
type api struct {
	srv *gateway.Server
	url string
}

func setup(t *testing.T) *env {
	t.Helper()
	st := teststack.New(t, teststack.Config{Topics: []string{topic, bulkTopic}})
	e := &env{stack: st}
	e.open = serve(t, gateway.Config{CheckURLAllowHosts: []string{gateway.AllowLoopback}}, e.deps(t, nil))
	e.keyed = serve(t, gateway.Config{
		CheckURLAllowHosts: []string{gateway.AllowLoopback},
		APIKeys:            identities(),
	}, e.deps(t, nil))
	return e
}

// deps are the stack's dependencies with kafka as the Kafka probe; nil probes
// the stack's broker.
func (e *env) deps(t *testing.T, kafka func(context.Context) error) gateway.Deps {
	if kafka == nil {
		kafka = func(ctx context.Context) error {
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", e.stack.Brokers[0])
			if err != nil {
				return err
			}
			return conn.Close()
		}
	}
	d := over(t, e.stack.Messages, e.stack.Store)
	d.Kafka = kafka
	return d
}

// over are a gateway's dependencies over the contract client m and the
// mirror, without a Kafka probe.
func over(t *testing.T, m *contract.Client, mirror *store.Store) gateway.Deps {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	ops, err := operations.New(operations.Deps{Messages: m, Store: mirror, Logger: logger})
	require.NoError(t, err)
	return gateway.Deps{Messages: m, Operations: ops, Store: mirror, Logger: logger}
}

// messages is a contract client over c starting workflows on taskQueue
// (default contract.TaskQueue), with rows as the mirror.
func messages(t *testing.T, c client.Client, taskQueue string, rows contract.Rows) *contract.Client {
	t.Helper()
	m, err := contract.NewClient(c, contract.ClientConfig{TaskQueue: taskQueue, Rows: rows, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return m
}

// serve starts a gateway on an httptest server, closed when t ends.
func serve(t *testing.T, cfg gateway.Config, deps gateway.Deps) *api {
	t.Helper()
	srv, err := gateway.New(cfg, deps)
	require.NoError(t, err)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &api{srv: srv, url: hs.URL}
}

// request is one HTTP call. Body is sent as is when set, else JSON is
// marshalled; ContentType defaults to application/json when there is a body.
type request struct {
	Method      string
	Path        string
	Body        string
	JSON        any
	Key         string
	Header      map[string]string
	ContentType string
}

// response is what came back.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (a *api) do(t *testing.T, r request) response {
	t.Helper()
	res, err := a.try(r)
	require.NoError(t, err)
	return res
}

// try is do for conditions polled by require.Eventually, which must not fail
// the test from their own goroutine.
func (a *api) try(r request) (response, error) {
	body := []byte(r.Body)
	if r.Body == "" && r.JSON != nil {
		var err error
		if body, err = json.Marshal(r.JSON); err != nil {
			return response{}, err
		}
	}
	req, err := http.NewRequest(r.Method, a.url+r.Path, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	if len(body) > 0 {
		ct := r.ContentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if r.Key != "" {
		req.Header.Set("Authorization", "Bearer "+r.Key)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: data}, nil
}

// tryJSON polls path for a 200 whose body decodes into v.
func (a *api) tryJSON(path string, v any) bool {
	r, err := a.try(request{Method: http.MethodGet, Path: path})
	return err == nil && r.Status == http.StatusOK && json.Unmarshal(r.Body, v) == nil
}

func (a *api) post(t *testing.T, path string, v any) response {
	t.Helper()
	return a.do(t, request{Method: http.MethodPost, Path: path, JSON: v})
}

func (a *api) get(t *testing.T, path string) response {
	t.Helper()
	return a.do(t, request{Method: http.MethodGet, Path: path})
}

// decode unmarshals a response body.
func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(r.Body, &v), "body: %s", r.Body)
	return v
}

// errorBody is the one error shape.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// requireError asserts status and the error shape with code, and returns the
// message.
func requireError(t *testing.T, r response, status int, code string) string {
	t.Helper()
	require.Equal(t, status, r.Status, "body: %s", r.Body)
	require.Contains(t, r.Header.Get("Content-Type"), "application/json")
	var raw map[string]map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &raw), "body: %s", r.Body)
	require.Len(t, raw, 1, "only the error field: %s", r.Body)
	require.Len(t, raw["error"], 2, "only code and message: %s", r.Body)
	b := decode[errorBody](t, r)
	require.Equal(t, code, b.Error.Code, "message: %s", b.Error.Message)
	require.NotEmpty(t, b.Error.Message)
	return b.Error.Message
}

// signalResponse answers the signal routes.
type signalResponse struct {
	ID             string      `json:"id"`
	Status         wire.Status `json:"status"`
	PreviousStatus wire.Status `json:"previous_status"`
	Outcome        string      `json:"outcome"`
	Reason         *string     `json:"reason"`
}

// why is a signal answer's reason.
func why(reason string) *string { return &reason }

// prepareResponse answers prepare and send.
type prepareResponse struct {
	ID     string      `json:"id"`
	Status wire.Status `json:"status"`
}

// message is a prepare body for id on the orders topic.
func (e *env) message(id string) map[string]any {
	return map[string]any{
		"id":        id,
		"topic":     topic,
		"key":       "customer-" + id,
		"payload":   map[string]any{"order": id, "amount": 42},
		"headers":   map[string]string{"trace-id": "t-" + id},
		"check_url": e.stack.Checks.URL,
		"producer":  "orders-svc",
	}
}

// view is GET /v1/messages/{id}.
type view struct {
	ID            string            `json:"id"`
	Topic         string            `json:"topic"`
	Key           string            `json:"key"`
	Payload       json.RawMessage   `json:"payload"`
	PayloadBase64 *string           `json:"payload_base64"`
	Headers       map[string]string `json:"headers"`
	Producer      string            `json:"producer"`
	Consumers     []string          `json:"consumers"`
	Status        wire.Status       `json:"status"`
	SendCount     int               `json:"send_count"`
	LastError     string            `json:"last_error"`
	CreatedAt     time.Time         `json:"created_at"`
	CompletedAt   *time.Time        `json:"completed_at"`
	StatusAt      *time.Time        `json:"status_at"`
	Source        string            `json:"source"`
}

// waitStatus polls GET /v1/messages/{id} until the mirror shows status.
func (a *api) waitStatus(t *testing.T, id string, status wire.Status) view {
	t.Helper()
	var v view
	require.Eventually(t, func() bool {
		v = view{}
		return a.tryJSON("/v1/messages/"+id, &v) && v.Source == "mirror" && v.Status == status
	}, 30*time.Second, 50*time.Millisecond, "message %s never showed %s in the mirror", id, status)
	return v
}

// requireAbsent asserts that no message id exists, in the workflow or the mirror.
func (a *api) requireAbsent(t *testing.T, id string) {
	t.Helper()
	requireError(t, a.get(t, "/v1/messages/"+id), http.StatusNotFound, "not_found")
	requireError(t, a.get(t, "/v1/messages/"+id+"?live=1"), http.StatusNotFound, "not_found")
}

// TestGateway runs every end-to-end test against one shared engine.
func TestGateway(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for name, test := range map[string]func(*testing.T, *env){
		"prepare idempotency":       testPrepareIdempotency,
		"prepare generates an id":   testPrepareGeneratesID,
		"confirm delivers":          testConfirmDelivers,
		"cancel":                    testCancel,
		"repeat confirm":            testRepeatConfirm,
		"direct send":               testDirectSend,
		"scheduled send":            testScheduledSend,
		"fan-out completion":        testFanOut,
		"unknown id":                testUnknownID,
		"signal conflicts":          testSignalConflicts,
		"ended workflows":           testEndedWorkflows,
		"redrive":                   testRedrive,
		"bulk redrive":              testBulkRedrive,
		"get":                       testGet,
		"list":                      testList,
		"stats":                     testStats,
		"health":                    testHealth,
		"readyz unavailable":        testReadyzUnavailable,
		"dependencies unavailable":  testDependenciesUnavailable,
		"no worker":                 testNoWorker,
		"metrics":                   testMetrics,
		"openapi":                   testOpenAPI,
		"routing errors":            testRoutingErrors,
		"auth":                      testAuth,
		"access matrix":             testAccessMatrix,
		"hidden is unknown":         testHiddenIsUnknown,
		"identities logged":         testIdentitiesLogged,
		"refusals are counted":      testRefusalsCounted,
		"check url allow-list":      testCheckURLAllowList,
		"hostile input":             testHostileInput,
		"run drains and shuts down": testRun,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, e)
		})
	}
}
