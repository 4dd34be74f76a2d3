package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/test/chaos"
)

// TestOneTracePerPayment runs the payment and accounting examples and
// `courier dev` with tracing on, exporting to a real Jaeger, and asserts
// that each payment is one trace from the payment's transaction to the
// accounting handler, with every span's parent in it:
//
//	transaction payments                      (payment)
//	├─ POST /v1/messages                      (courier: the prepare)
//	│  ├─ StartWorkflow:CourierMessage
//	│  ├─ wait for confirm
//	│  ├─ publish
//	│  │  └─ send payments                    (partition, offset, attempt)
//	│  │     └─ process payments              (accounting)
//	│  │        └─ POST /v1/messages/{id}/complete (courier)
//	│  ├─ wait for completion                 (across the restart)
//	│  └─ completed
//	└─ POST /v1/messages/{id}/confirm
//
// The accounting service is down until Courier has been killed and started
// again while the messages wait for their completion: the wait's span is
// written by the new process, under the parent the old one stored.
func TestOneTracePerPayment(t *testing.T) {
	jaeger := jaegerBinary(t)
	ctx := t.Context()
	dir := t.TempDir()
	otlp, query := startJaeger(t, jaeger, dir)
	traced := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + otlp,
		"OTEL_TRACES_SAMPLER":         "parentbased_always_on",
		// Export within a tenth of a second, so that a killed process has
		// sent what it ended before.
		"OTEL_BSP_SCHEDULE_DELAY": "100",
	}
	with := func(env map[string]string) map[string]string {
		for k, v := range traced {
			env[k] = v
		}
		return env
	}

	svc := buildGoExamples(t, dir)
	courierBin, err := chaos.BuildCourier(ctx, dir)
	require.NoError(t, err)
	ports := freePorts(t, 4)
	gateway := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	kafka := fmt.Sprintf("127.0.0.1:%d", ports[2])
	dev := chaos.NewProcess("courier dev", courierBin, []string{"dev",
		"--data-dir", filepath.Join(dir, "courier-data"), "--no-ui",
		"--http-addr", strings.TrimPrefix(gateway, "http://"),
		"--temporal-port", strconv.Itoa(ports[1]), "--kafka-port", strconv.Itoa(ports[2]),
		// One send, then a long wait for its completion: the restart
		// happens inside it.
		"--resend-intervals", "120s,120s",
		"--worker-stop-timeout", "1s", "--log-level", "warn",
	}, with(map[string]string{"COURIER_API_KEYS": apiKeys}), filepath.Join(dir, "courier.log"))
	require.NoError(t, dev.Start())
	t.Cleanup(func() { _ = dev.Stop() })
	require.NoError(t, chaos.NewClient(gateway, adminKey).Ready(ctx, 2*time.Minute), "courier dev log:\n%s", dev.LogTail(4<<10))

	var otelEnv []string
	for k, v := range traced {
		otelEnv = append(otelEnv, k+"="+v)
	}
	paymentAddr := fmt.Sprintf("127.0.0.1:%d", ports[3])
	payment := startService(t, svc.payment, dir, serviceEnv(dir, append(otelEnv, "COURIER_API_KEY="+paymentKey)...),
		"-addr", paymentAddr, "-db", filepath.Join(dir, "payment.db"), "-courier", gateway)
	payment.waitListening(t, paymentAddr)
	defer func() {
		if t.Failed() {
			t.Logf("courier log:\n%s", dev.LogTail(8<<10))
		}
	}()

	// Pay three orders; their messages are sent, and wait for accounting.
	var ids []string
	for i := range 3 {
		ids = append(ids, payOrder(t, paymentAddr, fmt.Sprintf("traced-%d", i), 100, http.StatusOK))
	}
	for _, id := range ids {
		waitStatus(t, gateway, id, "DELIVERED")
	}

	// Restart Courier (its worker) while the messages wait.
	// The spans ended so far must have reached Jaeger: the kill loses what
	// the worker has not exported yet.
	for _, id := range ids {
		waitSpans(t, query, id, "courier/wait for confirm", "courier/publish", "courier/send payments")
	}
	restartAt := time.Now()
	require.NoError(t, dev.Kill())
	require.NoError(t, dev.Start())
	require.NoError(t, chaos.NewClient(gateway, adminKey).Ready(ctx, 2*time.Minute), "courier dev log:\n%s", dev.LogTail(4<<10))
	startService(t, svc.accounting, dir, serviceEnv(dir, append(otelEnv, "COURIER_API_KEY="+accountingKey)...),
		"-db", filepath.Join(dir, "accounting.db"), "-courier", gateway, "-kafka", kafka)
	for _, id := range ids {
		waitStatus(t, gateway, id, "COMPLETED")
	}

	for _, id := range ids {
		tr := waitTrace(t, query, id, []string{
			"payment/transaction payments",
			"courier/POST /v1/messages",
			"courier/StartWorkflow:CourierMessage",
			"courier/POST /v1/messages/{id}/confirm",
			"courier/wait for confirm",
			"courier/publish",
			"courier/send payments",
			"courier/wait for completion",
			"courier/completed",
			"accounting/process payments",
			"courier/POST /v1/messages/{id}/complete",
		})
		tr.requireLinked(t)

		txn := tr.one(t, "payment/transaction payments")
		require.Empty(t, txn.References, "the payment's transaction starts the trace")
		prepare := tr.one(t, "courier/POST /v1/messages")
		tr.requireChild(t, prepare, txn)
		tr.requireChild(t, tr.one(t, "courier/StartWorkflow:CourierMessage"), prepare)
		confirm := tr.one(t, "courier/POST /v1/messages/{id}/confirm")
		tr.requireChild(t, confirm, txn)

		waitConfirm := tr.one(t, "courier/wait for confirm")
		publish := tr.one(t, "courier/publish")
		waitCompletion := tr.one(t, "courier/wait for completion")
		completed := tr.one(t, "courier/completed")
		send := tr.one(t, "courier/send payments")
		process := tr.one(t, "accounting/process payments")
		for _, phase := range []jaegerSpan{waitConfirm, publish, waitCompletion, completed} {
			tr.requireChild(t, phase, prepare)
		}
		tr.requireChild(t, send, publish)
		tr.requireChild(t, process, send)
		tr.requireChild(t, tr.one(t, "courier/POST /v1/messages/{id}/complete"), process)

		// In order: the phases follow one another, the send is inside its
		// phase, and the wait for completion spans the restart.
		require.LessOrEqual(t, txn.StartTime, prepare.StartTime)
		require.LessOrEqual(t, prepare.StartTime, waitConfirm.StartTime)
		require.LessOrEqual(t, waitConfirm.end(), publish.StartTime)
		require.LessOrEqual(t, publish.StartTime, send.StartTime)
		require.LessOrEqual(t, publish.end(), waitCompletion.StartTime)
		require.LessOrEqual(t, waitCompletion.end(), completed.StartTime)
		require.Less(t, waitCompletion.StartTime, restartAt.UnixMicro(), "wait for completion began before the restart")
		require.Greater(t, waitCompletion.end(), restartAt.UnixMicro(), "wait for completion ended after the restart")
		require.Less(t, send.StartTime, process.StartTime)
		require.Equal(t, id, send.tag("messaging.message.id"))
		require.NotEmpty(t, send.tag("messaging.destination.partition.id"))
		require.NotEmpty(t, send.tag("messaging.kafka.offset"))
		require.Equal(t, "1", send.tag("courier.send.attempt"))
		t.Logf("trace %s of message %s:\n%s", tr.TraceID, id, tr.outline())
	}
}

// jaegerBinary is the Jaeger all-in-one program: $COURIER_JAEGER, which CI
// sets and which must then exist, else `jaeger` on PATH. Build it with
//
//	go -C test/tracing/jaegerbin build -o "$(go env GOPATH)/bin/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger
func jaegerBinary(t *testing.T) string {
	if bin := os.Getenv("COURIER_JAEGER"); bin != "" {
		_, err := os.Stat(bin)
		require.NoError(t, err, "COURIER_JAEGER names the Jaeger binary the tracing test needs")
		return bin
	}
	bin, err := exec.LookPath("jaeger")
	if err != nil {
		t.Skip("no Jaeger: build it with go -C test/tracing/jaegerbin build -o \"$(go env GOPATH)/bin/jaeger\" github.com/jaegertracing/jaeger/cmd/jaeger, or set COURIER_JAEGER")
	}
	return bin
}

// startJaeger runs Jaeger with in-memory storage, OTLP/HTTP on one free port
// and its query API on another, and returns both addresses.
func startJaeger(t *testing.T, bin, dir string) (otlp, query string) {
	ports := freePorts(t, 3)
	otlp = fmt.Sprintf("127.0.0.1:%d", ports[0])
	query = fmt.Sprintf("127.0.0.1:%d", ports[1])
	config := fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memory
    http:
      endpoint: %s
    grpc:
      endpoint: 127.0.0.1:%d
  jaeger_storage:
    backends:
      memory:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: %s
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memory
`, query, ports[2], otlp)
	path := filepath.Join(dir, "jaeger.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	jaeger := chaos.NewProcess("jaeger", bin, []string{"--config", path}, nil, filepath.Join(dir, "jaeger.log"))
	require.NoError(t, jaeger.Start())
	t.Cleanup(func() { _ = jaeger.Stop() })
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + query + "/api/services")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, time.Minute, 200*time.Millisecond, "Jaeger's query API does not answer; its log:\n%s", jaeger.LogTail(4<<10))
	return otlp, query
}

// jaegerTrace is one trace as Jaeger's query API returns it.
type jaegerTrace struct {
	TraceID   string       `json:"traceID"`
	Spans     []jaegerSpan `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

type jaegerSpan struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	StartTime int64  `json:"startTime"` // µs since the epoch
	Duration  int64  `json:"duration"`  // µs
	ProcessID string `json:"processID"`
	Tags      []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
}

func (s jaegerSpan) end() int64 { return s.StartTime + s.Duration }

func (s jaegerSpan) tag(key string) string {
	for _, tag := range s.Tags {
		if tag.Key == key {
			return fmt.Sprint(tag.Value)
		}
	}
	return ""
}

// name is "service/operation".
func (tr jaegerTrace) name(s jaegerSpan) string {
	return tr.Processes[s.ProcessID].ServiceName + "/" + s.OperationName
}

// one is the trace's only span named name.
func (tr jaegerTrace) one(t *testing.T, name string) jaegerSpan {
	var found []jaegerSpan
	for _, s := range tr.Spans {
		if tr.name(s) == name {
			found = append(found, s)
		}
	}
	require.Len(t, found, 1, "spans named %s in trace %s: %s", name, tr.TraceID, tr.summary())
	return found[0]
}

// requireChild asserts that child's parent is parent.
func (tr jaegerTrace) requireChild(t *testing.T, child, parent jaegerSpan) {
	require.Len(t, child.References, 1, "%s has one parent", tr.name(child))
	require.Equal(t, parent.SpanID, child.References[0].SpanID, "%s is a child of %s: %s", tr.name(child), tr.name(parent), tr.summary())
}

// requireLinked asserts that every span's parent is in the trace.
func (tr jaegerTrace) requireLinked(t *testing.T) {
	ids := map[string]bool{}
	for _, s := range tr.Spans {
		ids[s.SpanID] = true
	}
	for _, s := range tr.Spans {
		for _, ref := range s.References {
			require.Equal(t, tr.TraceID, ref.TraceID)
			require.True(t, ids[ref.SpanID], "%s's parent %s is not in the trace: %s", tr.name(s), ref.SpanID, tr.summary())
		}
	}
}

// outline is the trace as a tree, each span with its start and duration
// from the trace's start in milliseconds: how the README shows one.
func (tr jaegerTrace) outline() string {
	children := map[string][]jaegerSpan{}
	var roots []jaegerSpan
	start := int64(0)
	for _, s := range tr.Spans {
		if start == 0 || s.StartTime < start {
			start = s.StartTime
		}
		if len(s.References) == 0 {
			roots = append(roots, s)
		} else {
			children[s.References[0].SpanID] = append(children[s.References[0].SpanID], s)
		}
	}
	var b strings.Builder
	var walk func(s jaegerSpan, depth int)
	walk = func(s jaegerSpan, depth int) {
		fmt.Fprintf(&b, "%8.1f ms %8.1f ms  %s%s\n", float64(s.StartTime-start)/1000, float64(s.Duration)/1000, strings.Repeat("  ", depth), tr.name(s))
		kids := children[s.SpanID]
		sort.Slice(kids, func(i, j int) bool { return kids[i].StartTime < kids[j].StartTime })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}

func (tr jaegerTrace) summary() string {
	var b strings.Builder
	for _, s := range tr.Spans {
		parent := ""
		if len(s.References) > 0 {
			parent = s.References[0].SpanID
		}
		fmt.Fprintf(&b, "\n  %s %s (parent %s) at %d for %dµs", s.SpanID, tr.name(s), parent, s.StartTime, s.Duration)
	}
	return b.String()
}

// waitTrace finds the one trace of message id (by the payment's transaction
// span and by the workflow's last span, which must agree) and waits until it
// holds every span in want.
func waitTrace(t *testing.T, query, id string, want []string) jaegerTrace {
	var missing []string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
		byPayment := findTraces(t, query, "payment", "", "messaging.message.id", id)
		// Courier's spans of the message's end (not the test's own reads
		// of it, each a trace of its own).
		byCourier := findTraces(t, query, "courier", "completed", "courier.message.id", id)
		if len(byPayment) == 1 && len(byCourier) == 1 {
			require.Equal(t, byPayment[0].TraceID, byCourier[0].TraceID, "the payment's and Courier's spans are one trace")
			tr := byPayment[0]
			have := map[string]bool{}
			for _, s := range tr.Spans {
				have[tr.name(s)] = true
			}
			missing = nil
			for _, name := range want {
				if !have[name] {
					missing = append(missing, name)
				}
			}
			if len(missing) == 0 {
				return tr
			}
			missing = append(missing, "in"+tr.summary())
		} else {
			missing = []string{fmt.Sprintf("%d traces by the payment's span, %d by Courier's", len(byPayment), len(byCourier))}
		}
		require.False(t, time.Now().After(deadline), "trace of message %s: missing %v", id, missing)
	}
}

// findTraces asks Jaeger for the traces with a span of service (named
// operation, unless that is empty) tagged key=value.
// waitSpans waits until the trace of the payment of message id holds spans
// of each name.
func waitSpans(t *testing.T, query, id string, names ...string) {
	t.Helper()
	var missing []string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		missing = names
		for _, tr := range findTraces(t, query, "payment", "", "messaging.message.id", id) {
			have := map[string]bool{}
			for _, s := range tr.Spans {
				have[tr.name(s)] = true
			}
			missing = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return have[n] })
		}
		if len(missing) == 0 {
			return
		}
	}
	t.Fatalf("the trace of %s never held %v", id, missing)
}

func findTraces(t *testing.T, query, service, operation, key, value string) []jaegerTrace {
	tags, _ := json.Marshal(map[string]string{key: value})
	u := fmt.Sprintf("http://%s/api/traces?service=%s&tags=%s&limit=20&lookback=1h", query, url.QueryEscape(service), url.QueryEscape(string(tags)))
	if operation != "" {
		u += "&operation=" + url.QueryEscape(operation)
	}
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Data []jaegerTrace `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Data
}
