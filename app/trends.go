package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/courier-mq/courier/store"
)

// trendSampleLag is how long after a minute ends it is sampled: the
// mirror's rows trail the workflows by a moment.
const trendSampleLag = 10 * time.Second

// trendSampleTimeout bounds one minute's sample.
const trendSampleTimeout = 30 * time.Second

// sampleTrends records the overview's minute samples (store.SampleMinute)
// until ctx ends: at start the last minute that is over, then each minute
// trendSampleLag after it ends. Every gateway runs it; the store writes each
// minute once. A sample the mirror refuses is logged and left a gap: the
// gateway serves on.
func sampleTrends(ctx context.Context, s *store.Store, logger *slog.Logger) error {
	for {
		// The minute that ended at least trendSampleLag ago.
		minute := time.Now().Add(-trendSampleLag).Truncate(time.Minute).Add(-time.Minute)
		sctx, cancel := context.WithTimeout(ctx, trendSampleTimeout)
		_, err := s.SampleMinute(sctx, minute)
		cancel()
		if err != nil && ctx.Err() == nil {
			logger.Warn("trends: the minute was not sampled", "minute", minute.UTC(), "error", err)
		}
		next := minute.Add(2*time.Minute + trendSampleLag)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(next)):
		}
	}
}
