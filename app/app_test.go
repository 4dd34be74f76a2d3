package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/app"
	"github.com/courier-mq/courier/internal/freeport"
	"github.com/courier-mq/courier/internal/teststack"
	"github.com/courier-mq/courier/worker"
)

// TestLoneWorkerServesItsMetrics runs a worker without a gateway, as
// `courier worker --metrics-addr` does, and reads its metrics.
func TestLoneWorkerServesItsMetrics(t *testing.T) {
	st := teststack.New(t, teststack.Config{})
	port, err := freeport.Port("127.0.0.1")
	require.NoError(t, err)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	parts := st.Parts
	parts.Registry = nil
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- parts.Run(ctx, app.Roles{Worker: &worker.Config{TaskQueue: "lone-worker", StopTimeout: time.Second, MirrorRetention: -1}, MetricsAddr: addr})
	}()
	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond)
	require.Contains(t, body, "courier_mirror_purged_rows_total 0")
	require.True(t, strings.Contains(body, "go_goroutines"), "the Go collectors are registered")
	cancel()
	require.NoError(t, <-done)
}
