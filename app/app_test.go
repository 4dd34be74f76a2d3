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
// `courier worker --metrics-addr --pprof-addr` does, and reads its metrics
// and a profile.
func TestLoneWorkerServesItsMetrics(t *testing.T) {
	st := teststack.New(t, teststack.Config{})
	addr := func() string {
		port, err := freeport.Port("127.0.0.1")
		require.NoError(t, err)
		return fmt.Sprintf("127.0.0.1:%d", port)
	}
	metrics, profiles := addr(), addr()
	parts := st.Parts
	parts.Registry = nil
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- parts.Run(ctx, app.Roles{
			Worker:       &worker.Config{TaskQueue: "lone-worker", StopTimeout: time.Second, MirrorRetention: -1},
			MetricsAddr:  metrics,
			ProfilesAddr: profiles,
		})
	}()
	get := func(url string) string {
		var body string
		require.Eventually(t, func() bool {
			resp, err := http.Get(url)
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
			return resp.StatusCode == http.StatusOK
		}, 10*time.Second, 50*time.Millisecond)
		return body
	}
	body := get("http://" + metrics + "/metrics")
	require.Contains(t, body, "courier_mirror_purged_rows_total 0")
	require.True(t, strings.Contains(body, "go_goroutines"), "the Go collectors are registered")
	require.Contains(t, get("http://"+profiles+"/debug/pprof/goroutine?debug=1"), "goroutine profile: total")
	resp, err := http.Get("http://" + metrics + "/debug/pprof/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "profiles are only on their own listener")
	cancel()
	require.NoError(t, <-done)
}
