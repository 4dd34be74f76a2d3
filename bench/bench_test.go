package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/bench"
	"github.com/courier-mq/courier/gateway"
	"github.com/courier-mq/courier/internal/teststack"
)

// setup starts a Courier engine with a gateway in front of it and returns the
// bench's config and deps pointed at them; the worker runs in this process.
func setup(t *testing.T) (bench.Config, bench.Deps, *bytes.Buffer) {
	t.Helper()
	st := teststack.New(t, teststack.Config{})
	parts := st.Parts
	parts.Registry = prometheus.NewRegistry()
	gw, err := parts.Gateway(gateway.Config{CheckURLAllowHosts: []string{gateway.AllowLoopback}}, "")
	require.NoError(t, err)
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	cfg := bench.Config{
		Messages:      20,
		Concurrency:   4,
		DirectRatio:   0.25,
		Gateway:       srv.URL,
		Brokers:       st.Brokers,
		WorkerPID:     os.Getpid(),
		HistorySample: 3,
		Timeout:       time.Minute,
		ProgressEvery: 50 * time.Millisecond,
	}
	progress := &bytes.Buffer{}
	return cfg, bench.Deps{Temporal: st.Client, Progress: progress}, progress
}

func TestRunReportsTheLifecycleAgainstTheBaseline(t *testing.T) {
	t.Parallel()
	cfg, deps, progress := setup(t)

	r, err := bench.Run(context.Background(), cfg, deps)
	require.NoError(t, err)

	var out bytes.Buffer
	require.NoError(t, r.WriteJSON(&out))
	var got map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &got))
	for _, key := range []string{"messages_per_sec", "baseline_per_sec", "ratio", "prepare_p99_ms",
		"publish_p50_ms", "events_per_message", "worker_rss_mb", "cpu_ms_per_message", "baseline_cpu_ms_per_workflow",
		"floor_per_sec", "floor_ratio", "lifecycle_floor_ratio", "floor_p99_ms", "floor_cpu_ms_per_workflow", "cpu_floor_ratio"} {
		require.Contains(t, got, key)
		require.Greater(t, got[key].(float64), 0.0, key)
	}
	require.Equal(t, 0.0, got["failed"])
	require.Equal(t, 0.0, got["baseline_failed"])
	require.Equal(t, 0.0, got["floor_failed"])

	// Every message went through; 5 of the 20 were sent directly.
	require.Equal(t, 15, r.Lifecycle.Prepare.Count)
	require.Equal(t, 15, r.Lifecycle.Confirm.Count)
	require.Equal(t, 5, r.Lifecycle.Send.Count)
	require.Equal(t, 15, r.Lifecycle.Publish.Count, "confirm → on Kafka")
	require.Equal(t, 5, r.Lifecycle.SendPublish.Count, "send → on Kafka")
	require.Equal(t, 20, r.Lifecycle.Consume.Count, "produced → consumed")
	require.Equal(t, 20, r.Lifecycle.EndToEnd.Count)
	// A bare workflow is started, one workflow task, completed.
	require.Equal(t, 5.0, r.Baseline.EventsPerWorkflow)
	require.Greater(t, r.Lifecycle.EventsPerMessage, r.Baseline.EventsPerWorkflow)
	// A floor workflow took its confirm and its complete as updates (two
	// accepted and two completed events) in two or three workflow tasks,
	// and nothing else.
	require.GreaterOrEqual(t, r.Floor.EventsPerWorkflow, 12.0)
	require.LessOrEqual(t, r.Floor.EventsPerWorkflow, 15.0)
	require.Greater(t, r.Lifecycle.EventsPerMessage, r.Floor.EventsPerWorkflow)
	require.LessOrEqual(t, r.Lifecycle.Publish.P50, r.Lifecycle.EndToEnd.P50)
	// 20 arrivals on Kafka: some time passes between the first and the last,
	// and no gap between two of them is longer than the whole run.
	require.Greater(t, r.Lifecycle.LongestGap, time.Duration(0))
	require.Less(t, r.Lifecycle.LongestGap, r.Lifecycle.Elapsed)
	require.Contains(t, got, "longest_gap_ms")
	require.InDelta(t, r.Lifecycle.PerSec/r.Baseline.PerSec, r.Ratio, 1e-9)
	require.InDelta(t, r.Floor.PerSec/r.Baseline.PerSec, r.FloorRatio, 1e-9)
	require.InDelta(t, r.Lifecycle.PerSec/r.Floor.PerSec, r.LifecycleFloorRatio, 1e-9)
	cpuPerMessage := r.Lifecycle.CPU.Seconds() / float64(r.Lifecycle.Messages)
	cpuPerFloor := r.Floor.CPU.Seconds() / float64(r.Floor.Workflows)
	require.InDelta(t, cpuPerMessage/cpuPerFloor, r.CPUFloorRatio, 1e-9)

	var md bytes.Buffer
	require.NoError(t, r.WriteMarkdown(&md))
	require.Contains(t, md.String(), "| ratio lifecycle / baseline |")
	require.Contains(t, md.String(), "| ratio floor / baseline |")
	require.Contains(t, md.String(), "| ratio lifecycle / floor |")
	require.Contains(t, md.String(), "| ratio CPU per message / per floor workflow |")
	require.Contains(t, md.String(), "| longest gap with nothing reaching Kafka |")
	require.Contains(t, md.String(), "| confirm → on Kafka | 15 |")
	require.Contains(t, md.String(), "| send → on Kafka (direct) | 5 |")
	require.Contains(t, progress.String(), "bench: lifecycle ")
	require.Contains(t, progress.String(), "bench: floor ")
}

func TestSoakHoldsMessagesInDelivered(t *testing.T) {
	t.Parallel()
	cfg, deps, _ := setup(t)
	cfg.Soak = 10
	cfg.Messages = 4
	cfg.SoakRelease = true

	r, err := bench.Run(context.Background(), cfg, deps)
	require.NoError(t, err)
	require.NotNil(t, r.Soak)
	require.Nil(t, r.Baseline)
	require.Nil(t, r.Floor)
	require.Equal(t, 10, r.Soak.Held)
	require.Zero(t, r.Soak.Failed)
	require.Positive(t, r.Soak.HeldRSSBytes)
	require.Equal(t, 4, r.Soak.Probe.EndToEnd.Count)
	require.Positive(t, r.Soak.Release)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	cfg := bench.Config{DirectRatio: 2, Rate: -1, Gateway: "localhost:8080", BaselineOnly: true, Soak: 5}
	cfg.SetDefaults()
	err := cfg.Validate()
	require.Error(t, err)
	for _, want := range []string{"direct ratio", "rate", "gateway", "baseline-only"} {
		require.True(t, strings.Contains(err.Error(), want), "want %q in %v", want, err)
	}
}
