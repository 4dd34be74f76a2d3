package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progress writes one line every interval about the phase under way.
type progress struct {
	w     io.Writer
	every time.Duration

	mu     sync.Mutex
	phase  string
	done   *atomic.Int64
	total  int
	since  time.Time
	detail func() string
}

// track makes phase the one reported: done of total, and detail's text when
// detail is not nil.
func (p *progress) track(phase string, done *atomic.Int64, total int, detail ...func() string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase, p.done, p.total, p.since = phase, done, total, time.Now()
	p.detail = nil
	if len(detail) > 0 {
		p.detail = detail[0]
	}
}

// run writes progress lines until ctx ends.
func (p *progress) run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		if p.done != nil {
			n := p.done.Load()
			secs := time.Since(p.since).Seconds()
			line := fmt.Sprintf("bench: %s %d/%d in %.0fs (%.1f/s)", p.phase, n, p.total, secs, float64(n)/secs)
			if p.detail != nil {
				line += " " + p.detail()
			}
			fmt.Fprintln(p.w, line)
		}
		p.mu.Unlock()
	}
}
