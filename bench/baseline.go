package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// BaselineTaskQueue is the task queue of the baseline's bare workflows and of
// the worker the bench runs for them; no Courier worker polls it.
const BaselineTaskQueue = "courier-bench-baseline"

// BaselineWorkflowType is the registered name of BareWorkflow.
const BaselineWorkflowType = "CourierBenchBare"

// BareWorkflow does nothing: start → complete is the least work a workflow
// can cost the server, so its rate is the ceiling for one workflow per message.
func BareWorkflow(workflow.Context) error { return nil }

// BaselineResult is what the baseline measured.
type BaselineResult struct {
	Workflows int
	Failed    int64
	Elapsed   time.Duration
	// PerSec is completed workflows per second.
	PerSec float64
	// Latency is start → result of one workflow.
	Latency Summary
	// EventsPerWorkflow is the mean history length of a sample.
	EventsPerWorkflow float64
	// CPU is what the watched Courier processes used during the baseline
	// (the bare workflows' worker runs in the bench, so this is the Temporal
	// server's share); 0 when none is watched.
	CPU time.Duration
}

// runBaseline runs n bare workflows with concurrency starters, each starting
// one and waiting for its result before the next, on a worker of its own.
func runBaseline(ctx context.Context, cfg Config, deps Deps, runID string, p *progress) (BaselineResult, error) {
	w := sdkworker.New(deps.Temporal, BaselineTaskQueue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(BareWorkflow, workflow.RegisterOptions{Name: BaselineWorkflowType})
	if err := w.Start(); err != nil {
		return BaselineResult{}, fmt.Errorf("start baseline worker: %w", err)
	}
	defer w.Stop()

	n := cfg.Messages
	ids := make(chan int, n)
	for i := range n {
		ids <- i
	}
	close(ids)
	var lat recorder
	var failed, done atomic.Int64
	p.track("baseline", &done, n)
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.Concurrency {
		wg.Go(func() {
			for i := range ids {
				if ctx.Err() != nil {
					failed.Add(1)
					continue
				}
				t0 := time.Now()
				run, err := deps.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
					ID:        baselineID(runID, i),
					TaskQueue: BaselineTaskQueue,
				}, BaselineWorkflowType)
				if err == nil {
					err = run.Get(ctx, nil)
				}
				if err != nil {
					failed.Add(1)
					deps.Logger.Warn("baseline workflow", "id", baselineID(runID, i), "error", err)
				} else {
					lat.add(time.Since(t0))
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	res := BaselineResult{Workflows: n, Failed: failed.Load(), Elapsed: time.Since(start), Latency: lat.summary()}
	if ctx.Err() != nil {
		return res, fmt.Errorf("baseline: %w", ctx.Err())
	}
	res.PerSec = float64(int64(n)-res.Failed) / res.Elapsed.Seconds()
	sample := sampleIDs(n, cfg.HistorySample, func(i int) string { return baselineID(runID, i) })
	events, err := meanHistoryLength(ctx, deps.Temporal, sample)
	if err != nil {
		return res, err
	}
	res.EventsPerWorkflow = events
	return res, nil
}

func baselineID(runID string, i int) string { return fmt.Sprintf("bench-bare-%s-%d", runID, i) }
