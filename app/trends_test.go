package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/store/storetest"
)

// TestSampleTrends runs the sampler: it records the last minute that is
// over as soon as it starts, and stops when its context ends.
func TestSampleTrends(t *testing.T) {
	t.Parallel()
	s := storetest.NewSQLite(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- sampleTrends(ctx, s, slog.Default()) }()

	// The sampled minute is one of the three before start (which one
	// depends on where in its minute the test started).
	require.Eventually(t, func() bool {
		samples, err := s.Samples(t.Context(), start.Add(-3*time.Minute), 3)
		require.NoError(t, err)
		for _, sm := range samples {
			if sm != nil {
				return true
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "no minute sampled")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the sampler did not stop with its context")
	}
}
