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

// BaselineTaskQueue is the task queue of the baseline's bare and floor
// workflows and of the worker the bench runs for them; no Courier worker
// polls it.
const BaselineTaskQueue = "courier-bench-baseline"

// BaselineWorkflowType is the registered name of BareWorkflow.
const BaselineWorkflowType = "CourierBenchBare"

// FloorWorkflowType is the registered name of FloorWorkflow.
const FloorWorkflowType = "CourierBenchFloor"

// The floor workflow's updates: a message's confirm and complete, without
// the message.
const (
	floorConfirm  = "confirm"
	floorComplete = "complete"
)

// BareWorkflow does nothing: start → complete is the least work a workflow
// can cost the server, so its rate is the ceiling for one workflow per message.
func BareWorkflow(workflow.Context) error { return nil }

// FloorWorkflow takes the three calls a prepared message's workflow takes
// (its start, a confirm update, a complete update, each answered by the
// workflow) and does nothing else: no mirror write, no publish, no search
// attribute, no timer. Its rate is what Temporal's side of Courier's protocol
// costs on its own, the floor under the lifecycle's cost.
func FloorWorkflow(ctx workflow.Context) error {
	var confirmed, completed bool
	if err := workflow.SetUpdateHandler(ctx, floorConfirm, func(workflow.Context) error {
		confirmed = true
		return nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandler(ctx, floorComplete, func(workflow.Context) error {
		completed = true
		return nil
	}); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return confirmed && completed })
}

// BaselineResult is what the baseline measured for one kind of workflow.
type BaselineResult struct {
	Workflows int
	Failed    int64
	Elapsed   time.Duration
	// PerSec is completed workflows per second.
	PerSec float64
	// Latency is start → result of one workflow, its updates included.
	Latency Summary
	// EventsPerWorkflow is the mean history length of a sample.
	EventsPerWorkflow float64
	// CPU is what the watched Courier processes used during the baseline
	// (the baseline's worker runs in the bench, so this is the Temporal
	// server's share); 0 when none is watched. BenchCPU is the bench's own
	// process meanwhile: the baseline's worker and starters.
	CPU, BenchCPU time.Duration
}

// shape is one kind of workflow the baseline runs.
type shape struct {
	// phase names it in progress lines and workflow IDs.
	phase string
	// drive starts a workflow with opts and runs it to its end.
	drive func(ctx context.Context, c client.Client, opts client.StartWorkflowOptions) error
}

// bare starts a BareWorkflow and waits for its result.
var bare = shape{phase: "bare", drive: func(ctx context.Context, c client.Client, opts client.StartWorkflowOptions) error {
	run, err := c.ExecuteWorkflow(ctx, opts, BaselineWorkflowType)
	if err != nil {
		return err
	}
	return run.Get(ctx, nil)
}}

// floor starts a FloorWorkflow, confirms it and completes it the way the
// gateway does (an update answered once the workflow has run it), and waits
// for its result.
var floor = shape{phase: "floor", drive: func(ctx context.Context, c client.Client, opts client.StartWorkflowOptions) error {
	run, err := c.ExecuteWorkflow(ctx, opts, FloorWorkflowType)
	if err != nil {
		return err
	}
	for _, name := range []string{floorConfirm, floorComplete} {
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID:   opts.ID,
			UpdateName:   name,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err != nil {
			return fmt.Errorf("%s update: %w", name, err)
		}
		if err := h.Get(ctx, nil); err != nil {
			return fmt.Errorf("%s update: %w", name, err)
		}
	}
	return run.Get(ctx, nil)
}}

// baselineWorker runs the baseline's workflows on a worker of the bench's
// own until stop is called.
func baselineWorker(c client.Client) (stop func(), err error) {
	w := sdkworker.New(c, BaselineTaskQueue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(BareWorkflow, workflow.RegisterOptions{Name: BaselineWorkflowType})
	w.RegisterWorkflowWithOptions(FloorWorkflow, workflow.RegisterOptions{Name: FloorWorkflowType})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start baseline worker: %w", err)
	}
	return w.Stop, nil
}

// runBaseline runs n workflows of shape s with concurrency starters, each
// driving one to its end before the next.
func runBaseline(ctx context.Context, cfg Config, deps Deps, runID string, s shape, p *progress) (BaselineResult, error) {
	n := cfg.Messages
	ids := make(chan int, n)
	for i := range n {
		ids <- i
	}
	close(ids)
	var lat recorder
	var failed, done atomic.Int64
	p.track(s.phase, &done, n)
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
				id := baselineID(s, runID, i)
				if err := s.drive(ctx, deps.Temporal, client.StartWorkflowOptions{ID: id, TaskQueue: BaselineTaskQueue}); err != nil {
					failed.Add(1)
					deps.Logger.Warn("baseline workflow", "id", id, "error", err)
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
		return res, fmt.Errorf("baseline %s: %w", s.phase, ctx.Err())
	}
	res.PerSec = float64(int64(n)-res.Failed) / res.Elapsed.Seconds()
	sample := sampleIDs(n, cfg.HistorySample, func(i int) string { return baselineID(s, runID, i) })
	events, err := meanHistoryLength(ctx, deps.Temporal, sample)
	if err != nil {
		return res, err
	}
	res.EventsPerWorkflow = events
	return res, nil
}

func baselineID(s shape, runID string, i int) string {
	return fmt.Sprintf("bench-%s-%s-%d", s.phase, runID, i)
}
