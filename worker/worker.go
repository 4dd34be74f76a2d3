package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/workflows"
)

// Config tunes the worker. Zero values take the defaults in SetDefaults.
type Config struct {
	// TaskQueue defaults to contract.TaskQueue.
	TaskQueue string
	// MaxConcurrentActivities bounds publishes, check-backs and mirror writes
	// in flight. Each is I/O bound, so the default is generous.
	MaxConcurrentActivities int
	// MaxConcurrentWorkflowTasks bounds workflow tasks in flight.
	MaxConcurrentWorkflowTasks int
	// ActivityPollers is the number of activity-task long-polls kept open to
	// the Temporal frontend; more pollers pick up tasks sooner under load.
	ActivityPollers int
	// WorkflowPollers is the number of workflow-task long-polls kept open on each
	// of the two queues the worker polls: the task queue, where every
	// message's first workflow task waits, and the worker's own sticky
	// queue, where the tasks of the workflows it holds in memory wait (see
	// workflowPollers).
	WorkflowPollers int
	// StopTimeout is how long shutdown waits for in-flight activities.
	StopTimeout time.Duration
	// StickyCacheSize is how many workflows the worker keeps in memory
	// between their workflow tasks. A message waiting for completion needs
	// its workflow only when a signal or timer arrives; an evicted one is
	// rebuilt from its history then. The SDK's own default of 10,000 costs
	// about 54 KB a waiting message.
	StickyCacheSize int
	// MirrorRetention is how long the mirror keeps a settled message after
	// it settled; the worker sets the retention schedule to it at start
	// (EnsureRetention). Default DefaultMirrorRetention; negative keeps
	// every row (and deletes the schedule).
	MirrorRetention time.Duration
	// MirrorWritesAlone runs each mirror write in a transaction of its own.
	// By default they share transactions (store.Grouper) on a database where
	// that pays, MySQL; set it to compare, or to rule grouping out.
	MirrorWritesAlone bool
}

// DefaultConfig is Config with every default set.
func DefaultConfig() Config {
	var c Config
	c.SetDefaults()
	return c
}

// SetDefaults fills every zero field with its default.
func (c *Config) SetDefaults() {
	if c.TaskQueue == "" {
		c.TaskQueue = contract.TaskQueue
	}
	if c.MaxConcurrentActivities == 0 {
		c.MaxConcurrentActivities = 500
	}
	if c.MaxConcurrentWorkflowTasks == 0 {
		c.MaxConcurrentWorkflowTasks = 100
	}
	if c.ActivityPollers == 0 {
		c.ActivityPollers = 4
	}
	if c.WorkflowPollers == 0 {
		c.WorkflowPollers = 4
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = 30 * time.Second
	}
	if c.StickyCacheSize == 0 {
		c.StickyCacheSize = 1000
	}
	if c.MirrorRetention == 0 {
		c.MirrorRetention = DefaultMirrorRetention
	}
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.MaxConcurrentActivities < 1 {
		errs = append(errs, fmt.Errorf("worker max concurrent activities must be positive, got %d", c.MaxConcurrentActivities))
	}
	if c.MaxConcurrentWorkflowTasks < 2 {
		errs = append(errs, fmt.Errorf("worker max concurrent workflow tasks must be at least 2, got %d", c.MaxConcurrentWorkflowTasks))
	}
	if c.ActivityPollers < 1 || c.WorkflowPollers < 2 {
		errs = append(errs, fmt.Errorf("worker needs at least 1 activity poller and 2 workflow pollers, got %d and %d", c.ActivityPollers, c.WorkflowPollers))
	}
	if c.StickyCacheSize < 1 {
		errs = append(errs, fmt.Errorf("worker sticky cache size must be positive, got %d", c.StickyCacheSize))
	}
	if c.StopTimeout < 0 {
		errs = append(errs, fmt.Errorf("worker stop timeout must not be negative, got %s", c.StopTimeout))
	}
	if c.MirrorRetention > 0 && c.MirrorRetention < time.Hour {
		// A typo such as 30 (nanoseconds) for 30 days must not empty the mirror.
		errs = append(errs, fmt.Errorf("mirror retention must be at least 1h, or off, got %s", c.MirrorRetention))
	}
	return errors.Join(errs...)
}

// workflowPollers is how the worker polls for workflow tasks: the task queue
// and the sticky queue each with WorkflowPollers pollers of their own. The
// count is fixed: allowed to scale down, the SDK drops to one poller a queue
// after idle periods and waits for the server to ask for more, and the
// end-to-end payment test then ran 352 s and failed, against 128 s with the
// count fixed.
//
// The SDK's other way (MaxConcurrentWorkflowTaskPollers) shares one set of
// pollers between the two queues and sends every new poll to the sticky
// queue while the last sticky task came with a backlog hint above zero. When
// that hint is stale, every poller waits on an empty sticky queue while new
// messages' first workflow tasks pile up on the task queue, and their
// confirms wait with them until some sticky task arrives: stalls of 4 to 8 s
// in about one full-speed run in four, measured in docs/performance.md.
func workflowPollers(cfg Config) sdkworker.PollerBehavior {
	return sdkworker.NewPollerBehaviorAutoscaling(sdkworker.PollerBehaviorAutoscalingOptions{
		InitialNumberOfPollers: cfg.WorkflowPollers,
		MinimumNumberOfPollers: cfg.WorkflowPollers,
		MaximumNumberOfPollers: cfg.WorkflowPollers,
	})
}

// Deps are what the worker runs with.
type Deps struct {
	Client     client.Client
	Activities *activities.Activities
	Logger     *slog.Logger
}

// Run starts a worker and blocks until ctx is done, then stops it, waiting up
// to cfg.StopTimeout for in-flight activities. It returns an error if the
// worker cannot start or dies.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if deps.Client == nil || deps.Activities == nil {
		return errors.New("worker needs a Temporal client and activities")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	// Process-wide in the SDK, and read when the first worker is created.
	sdkworker.SetStickyWorkflowCacheSize(cfg.StickyCacheSize)
	w := sdkworker.New(deps.Client, cfg.TaskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     cfg.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: cfg.MaxConcurrentWorkflowTasks,
		MaxConcurrentActivityTaskPollers:       cfg.ActivityPollers,
		WorkflowTaskPollerBehavior:             workflowPollers(cfg),
		WorkerStopTimeout:                      cfg.StopTimeout,
	})
	Register(w, deps.Activities)
	// Retention is housekeeping: a failure to set it up is logged, and
	// messages flow regardless.
	if err := EnsureRetention(ctx, deps.Client, cfg.TaskQueue, cfg.MirrorRetention); err != nil {
		logger.Error("mirror retention not scheduled", "error", err)
	}

	logger.Info("worker starting", "task_queue", cfg.TaskQueue, "max_activities", cfg.MaxConcurrentActivities)
	interrupt := make(chan any)
	stop := context.AfterFunc(ctx, func() { close(interrupt) })
	defer stop()
	// Run returns when interrupted, after Stop has drained in-flight
	// activities, or early with the cause when the worker fails.
	if err := w.Run(interrupt); err != nil {
		return fmt.Errorf("worker on %s: %w", cfg.TaskQueue, err)
	}
	logger.Info("worker stopped", "task_queue", cfg.TaskQueue)
	return nil
}

// Register puts MessageWorkflow, RetentionWorkflow and the activities on a
// worker or replayer.
func Register(r sdkworker.Registry, a *activities.Activities) {
	r.RegisterWorkflowWithOptions(workflows.MessageWorkflow, workflow.RegisterOptions{Name: contract.WorkflowType})
	r.RegisterWorkflowWithOptions(workflows.RetentionWorkflow, workflow.RegisterOptions{Name: contract.RetentionWorkflowType})
	r.RegisterActivity(a)
}
