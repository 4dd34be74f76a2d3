package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// procInterval is how often the worker process is sampled.
const procInterval = 500 * time.Millisecond

// Run runs one benchmark as cfg says: the baseline (bare workflows, then
// floor workflows), then the lifecycle (or only the baseline, or the soak),
// and returns what it measured. A run that ends early returns the partial
// report with the error.
func Run(ctx context.Context, cfg Config, deps Deps) (*Report, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	if deps.Temporal == nil {
		return nil, errors.New("bench needs a Temporal client")
	}
	deps.setDefaults(cfg)
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	now := time.Now()
	r := &Report{
		RunID:       strconv.FormatInt(now.UnixMilli(), 36),
		StartedAt:   now,
		Messages:    cfg.Messages,
		Concurrency: cfg.Concurrency,
		DirectRatio: cfg.DirectRatio,
		Rate:        cfg.Rate,
		LoadBefore:  loadAverage(),
	}
	watch, err := watchProc(cfg.WorkerPID, cfg.CPUPIDs, procInterval)
	if err != nil {
		return nil, err
	}
	p := &progress{w: deps.Progress, every: cfg.ProgressEvery}
	pctx, stopProgress := context.WithCancel(ctx)
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		p.run(pctx)
	}()
	err = r.run(ctx, cfg, deps, p, watch)
	stopProgress()
	<-progressDone
	r.Worker, _ = watch.finish()
	r.LoadAfter = loadAverage()
	r.ratios()
	return r, err
}

func (r *Report) run(ctx context.Context, cfg Config, deps Deps, p *progress, watch *procWatch) error {
	if cfg.Soak > 0 {
		s, err := runSoak(ctx, cfg, deps, r.RunID, p, watch)
		r.Soak = s
		return err
	}
	if !cfg.NoBaseline {
		if err := r.runBaselines(ctx, cfg, deps, p, watch); err != nil {
			return err
		}
	}
	if cfg.BaselineOnly {
		return nil
	}
	var l LifecycleResult
	cpu, benchCPU, err := watch.phaseCPU(func() (err error) {
		l, err = runLifecycle(ctx, cfg, deps, r.RunID, cfg.Messages, p, "lifecycle")
		return err
	})
	l.CPU, l.BenchCPU = cpu, benchCPU
	r.Lifecycle = &l
	return err
}

// runBaselines runs the bare workflows, then the floor workflows, on a
// worker of the bench's own that stops before the lifecycle starts.
func (r *Report) runBaselines(ctx context.Context, cfg Config, deps Deps, p *progress, watch *procWatch) error {
	stop, err := baselineWorker(deps.Temporal)
	if err != nil {
		return err
	}
	defer stop()
	measure := func(s shape) (*BaselineResult, error) {
		var b BaselineResult
		cpu, benchCPU, err := watch.phaseCPU(func() (err error) {
			b, err = runBaseline(ctx, cfg, deps, r.RunID, s, p)
			return err
		})
		b.CPU, b.BenchCPU = cpu, benchCPU
		return &b, err
	}
	if r.Baseline, err = measure(bare); err != nil {
		return err
	}
	r.Floor, err = measure(floor)
	return err
}

// runLifecycle sends n messages through the whole lifecycle and waits until
// each is COMPLETED or has failed.
func runLifecycle(ctx context.Context, cfg Config, deps Deps, runID string, n int, p *progress, phase string) (LifecycleResult, error) {
	l, err := startLifecycle(ctx, cfg, deps, runID, n, false, nil)
	if err != nil {
		return LifecycleResult{Messages: n}, err
	}
	defer l.close()
	p.track(phase, &l.completed, n, func() string {
		return fmt.Sprintf("[prepared %d, on Kafka %d, failed %d]", l.prepared.Load(), l.seen.Load(), l.failed.Load())
	})
	l.produce(ctx)
	err = l.await(ctx, &l.completed)
	res, rerr := l.result(context.WithoutCancel(ctx))
	return res, errors.Join(err, rerr)
}

// soakPolicy keeps held messages from being re-sent while the soak runs.
var soakPolicy = map[string]any{"resend_intervals": []string{"24h"}}

// runSoak holds cfg.Soak messages in DELIVERED, runs a probe lifecycle of
// cfg.Messages beside them, and releases them when cfg.SoakRelease is set.
func runSoak(ctx context.Context, cfg Config, deps Deps, runID string, p *progress, watch *procWatch) (*SoakResult, error) {
	s := &SoakResult{Held: cfg.Soak}
	held, err := startLifecycle(ctx, cfg, deps, runID, cfg.Soak, true, soakPolicy)
	if err != nil {
		return s, err
	}
	defer held.close()
	p.track("soak fill", &held.seen, cfg.Soak, func() string {
		return fmt.Sprintf("[prepared %d, failed %d]", held.prepared.Load(), held.failed.Load())
	})
	start := time.Now()
	held.produce(ctx)
	if err := held.await(ctx, &held.seen); err != nil {
		s.Failed = held.failed.Load()
		return s, fmt.Errorf("soak fill: %w", err)
	}
	s.Fill = time.Since(start)
	s.Failed = held.failed.Load()
	if ps, err := watch.snapshot(); err == nil {
		s.HeldRSSBytes = ps.RSSBytes
	}

	s.Probe, err = runLifecycle(ctx, cfg, deps, runID+"p", cfg.Messages, p, "soak probe")
	if err != nil {
		return s, fmt.Errorf("soak probe: %w", err)
	}
	if ps, err := watch.snapshot(); err == nil {
		s.AfterProbeRSSBytes = ps.RSSBytes
	}
	if !cfg.SoakRelease {
		return s, nil
	}
	p.track("soak release", &held.completed, cfg.Soak)
	start = time.Now()
	held.release()
	if err := held.await(ctx, &held.completed); err != nil {
		return s, fmt.Errorf("soak release: %w", err)
	}
	s.Release = time.Since(start)
	return s, nil
}
