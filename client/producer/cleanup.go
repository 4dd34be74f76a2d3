package producer

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// cleanupRun keeps background cleanups at most one at a time and one per
// Config.CleanupEvery.
type cleanupRun struct {
	mu      sync.Mutex
	running bool
	last    time.Time
}

// cleanupSoon starts a background Cleanup with the configured retention if
// none ran within CleanupEvery. It runs from the calls a service makes
// anyway, so a service needs no job of its own; several instances cleaning
// one table at once delete the same rows, harmlessly.
func (p *Producer) cleanupSoon(ctx context.Context) {
	if p.cfg.Retention < 0 {
		return
	}
	c := &p.cleanup
	c.mu.Lock()
	if c.running || time.Since(c.last) < p.cfg.CleanupEvery {
		c.mu.Unlock()
		return
	}
	c.running, c.last = true, time.Now()
	c.mu.Unlock()
	go func() {
		defer func() {
			c.mu.Lock()
			c.running = false
			c.mu.Unlock()
		}()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if n, err := p.Cleanup(cctx, p.cfg.Retention); err != nil {
			p.cfg.Logger.Warn("courier: barrier table cleanup failed; it is tried again later", "table", p.cfg.Table, "error", err)
		} else if n > 0 {
			p.cfg.Logger.Debug("courier: barrier rows past the retention deleted", "table", p.cfg.Table, "rows", n)
		}
	}()
}

// Cleanup deletes barrier rows older than retention, which must outlast the
// check-back schedule of every message still waiting for its producer (a
// deleted committed row would be answered ROLLED_BACK): it refuses one
// under RetentionFloor. The producer runs it by itself (Config.Retention);
// call it directly only with the background cleanup off.
func (p *Producer) Cleanup(ctx context.Context, retention time.Duration) (int64, error) {
	if floor := RetentionFloor(); retention < floor {
		return 0, fmt.Errorf("producer: retention %s is under %s; it must outlast every check-back schedule", retention, floor)
	}
	res, err := p.db.ExecContext(ctx, deleteBefore(p.cfg.Dialect, p.cfg.Table), time.Now().Add(-retention).UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("producer: clean up barrier table: %w", err)
	}
	return res.RowsAffected()
}
