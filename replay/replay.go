// Package replay is the check before a rollout: it replays the histories of
// the messages a Temporal cluster holds (every open one, and those closed
// recently) against this binary's workflow code. A nondeterminism error
// means the new code would fail messages in flight: keep the old worker, or
// put the change behind a new contract.CurrentVersion.
package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/sync/errgroup"

	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/workflows"
)

// Defaults of Config.
const (
	DefaultClosedWithin = 7 * 24 * time.Hour
	DefaultConcurrency  = 4
)

// Config says which histories to replay, and against what.
type Config struct {
	// Namespace holds the message workflows. Default "default".
	Namespace string
	// ClosedWithin adds the workflows closed this recently to the open ones.
	// Default DefaultClosedWithin; negative replays open workflows only.
	ClosedWithin time.Duration
	// Limit bounds how many histories are replayed; 0 replays all.
	Limit int
	// Concurrency is how many histories are fetched and replayed at once.
	// Default DefaultConcurrency.
	Concurrency int
	// Workflow is the code to replay against. Default
	// workflows.MessageWorkflow; tests give a changed one.
	Workflow any
}

// Report is what a replay found.
type Report struct {
	// Open and Closed count the histories replayed.
	Open, Closed int
	// ByVersion counts the histories by the workflow code version they
	// run (see Version).
	ByVersion map[string]int
	// Failures are the histories this code cannot replay.
	Failures []Failure
}

// Failure is one history the code cannot replay.
type Failure struct {
	WorkflowID, RunID, Version string
	Err                        string
}

// Run replays the histories cfg selects from c.
func Run(ctx context.Context, c client.Client, cfg Config) (Report, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.ClosedWithin == 0 {
		cfg.ClosedWithin = DefaultClosedWithin
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Workflow == nil {
		cfg.Workflow = workflows.MessageWorkflow
	}
	query := fmt.Sprintf("WorkflowType = %q AND ExecutionStatus = \"Running\"", contract.WorkflowType)
	if cfg.ClosedWithin > 0 {
		since := time.Now().Add(-cfg.ClosedWithin).UTC().Format(time.RFC3339)
		query = fmt.Sprintf("WorkflowType = %q AND (ExecutionStatus = \"Running\" OR CloseTime > %q)", contract.WorkflowType, since)
	}
	rep := Report{ByVersion: map[string]int{}}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Concurrency)
	var token []byte
	listed := 0
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: cfg.Namespace, Query: query, NextPageToken: token})
		if err != nil {
			_ = g.Wait()
			return rep, fmt.Errorf("list message workflows: %w", err)
		}
		for _, ex := range resp.GetExecutions() {
			if cfg.Limit > 0 && listed == cfg.Limit {
				break
			}
			listed++
			wid, rid := ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId()
			open := ex.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
			g.Go(func() error {
				h, err := history(gctx, c, wid, rid)
				if err != nil {
					return err
				}
				version := Version(h)
				err = replayOne(cfg.Workflow, h)
				mu.Lock()
				defer mu.Unlock()
				if open {
					rep.Open++
				} else {
					rep.Closed++
				}
				rep.ByVersion[version]++
				if err != nil {
					rep.Failures = append(rep.Failures, Failure{WorkflowID: wid, RunID: rid, Version: version, Err: err.Error()})
				}
				return nil
			})
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 || (cfg.Limit > 0 && listed == cfg.Limit) {
			break
		}
	}
	if err := g.Wait(); err != nil {
		return rep, err
	}
	sort.Slice(rep.Failures, func(i, j int) bool { return rep.Failures[i].WorkflowID < rep.Failures[j].WorkflowID })
	return rep, nil
}

// history fetches the whole history of one run.
func history(ctx context.Context, c client.Client, wid, rid string) (*historypb.History, error) {
	h := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, wid, rid, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("fetch the history of %s: %w", wid, err)
		}
		h.Events = append(h.Events, ev)
	}
	if len(h.Events) == 0 {
		return nil, fmt.Errorf("fetch the history of %s: it has no events", wid)
	}
	return h, nil
}

// replayOne replays h against wf, registered under the message workflow's
// name.
func replayOne(wf any, h *historypb.History) error {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: contract.WorkflowType})
	return r.ReplayWorkflowHistory(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)), h)
}

// Version names the workflow code version a history runs: "v2" for a
// version pinned in the input (contract.Input.Version), "v1 (marker)" for
// one chosen by workflow.GetVersion before versions were pinned, "v0" for
// the oldest, and "unreadable input" when the input does not decode.
func Version(h *historypb.History) string {
	start := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
	var in contract.Input
	if p := start.GetInput().GetPayloads(); len(p) == 0 || converter.GetDefaultDataConverter().FromPayload(p[0], &in) != nil {
		return "unreadable input"
	}
	if in.Version > 0 {
		return fmt.Sprintf("v%d", in.Version)
	}
	for _, ev := range h.GetEvents() {
		m := ev.GetMarkerRecordedEventAttributes()
		if m.GetMarkerName() != "Version" {
			continue
		}
		var change string
		if p := m.GetDetails()["change-id"].GetPayloads(); len(p) > 0 && converter.GetDefaultDataConverter().FromPayload(p[0], &change) == nil && change == contract.ChangeLocalActivities {
			var v workflow.Version
			if p := m.GetDetails()["version"].GetPayloads(); len(p) > 0 && converter.GetDefaultDataConverter().FromPayload(p[0], &v) == nil {
				return fmt.Sprintf("v%d (marker)", v)
			}
		}
	}
	return "v0"
}

// Print writes rep for an operator.
func (rep Report) Print(w interface{ Write([]byte) (int, error) }) {
	fmt.Fprintf(w, "replayed %d message histories (%d open, %d closed)\n", rep.Open+rep.Closed, rep.Open, rep.Closed)
	versions := make([]string, 0, len(rep.ByVersion))
	for v := range rep.ByVersion {
		versions = append(versions, v)
	}
	sort.Strings(versions)
	for _, v := range versions {
		fmt.Fprintf(w, "  %-16s %d\n", v, rep.ByVersion[v])
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(w, "FAIL %s (run %s, %s): %s\n", f.WorkflowID, f.RunID, f.Version, strings.TrimSpace(f.Err))
	}
	if len(rep.Failures) > 0 {
		fmt.Fprintf(w, "%d of %d histories do not replay: this code would break them; do not roll it out\n", len(rep.Failures), rep.Open+rep.Closed)
	} else {
		fmt.Fprintln(w, "every history replays: this code is safe for the messages in flight")
	}
}

// ErrNotReplayable is returned by callers that turn failures into an exit
// status.
var ErrNotReplayable = errors.New("some message histories do not replay against this code")
