package replay_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/internal/teststack"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/replay"
	"github.com/courier-mq/courier/workflows"
)

// TestRunFindsAnIncompatibleChange starts messages on a real server, some
// left open and some closed, and replays them: against this code they all
// replay; against a workflow that was changed without a new version, each
// fails.
func TestRunFindsAnIncompatibleChange(t *testing.T) {
	st := teststack.New(t, teststack.Config{})
	ctx := t.Context()
	for _, id := range []string{"replay-open-1", "replay-open-2", "replay-closed"} {
		st.Start(t, st.Input(id))
	}
	a, err := st.Messages.Ask(ctx, "replay-closed", contract.Request{Action: models.Cancel, By: "test"})
	require.NoError(t, err)
	require.Equal(t, wire.Applied, a.Disposition)
	// Visibility lists them a moment later.
	var rep replay.Report
	require.Eventually(t, func() bool {
		rep, err = replay.Run(context.Background(), st.Client, replay.Config{Namespace: st.Namespace})
		return err == nil && rep.Open == 2 && rep.Closed == 1
	}, 30*time.Second, 200*time.Millisecond, "report %+v, error %v", rep, err)
	require.Empty(t, rep.Failures)
	require.Equal(t, map[string]int{fmt.Sprintf("v%d", contract.CurrentVersion): 3}, rep.ByVersion)
	var out bytes.Buffer
	rep.Print(&out)
	require.Contains(t, out.String(), "replayed 3 message histories (2 open, 1 closed)")
	require.Contains(t, out.String(), "every history replays")

	// A change that waits before doing anything: the histories' first
	// commands no longer match.
	changed := func(ctx workflow.Context, in contract.Input) (contract.Result, error) {
		if err := workflow.Sleep(ctx, time.Hour); err != nil {
			return contract.Result{}, err
		}
		return workflows.MessageWorkflow(ctx, in)
	}
	rep, err = replay.Run(ctx, st.Client, replay.Config{Namespace: st.Namespace, Workflow: changed})
	require.NoError(t, err)
	require.Len(t, rep.Failures, 3)
	// TMPRL1100 is the SDK's code for a history the code no longer matches.
	// The words after it depend on where the history and the code part:
	// "nondeterministic workflow: ..." at a command, "invalid state
	// transition: ..." when the history cancels the timer the code started.
	for _, f := range rep.Failures {
		require.Contains(t, f.Err, "[TMPRL1100]", f.WorkflowID)
	}
	out.Reset()
	rep.Print(&out)
	require.Contains(t, out.String(), "3 of 3 histories do not replay")

	// Only open ones, at most one.
	rep, err = replay.Run(ctx, st.Client, replay.Config{Namespace: st.Namespace, ClosedWithin: -1, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Open)
	require.Zero(t, rep.Closed)
}

// TestVersionOfRecordedHistories names the code version of the histories
// the replay tests keep, one per generation.
func TestVersionOfRecordedHistories(t *testing.T) {
	for dir, want := range map[string]string{
		"":                      fmt.Sprintf("v%d", contract.CurrentVersion),
		"v3-detached-mirror":    "v3",
		"v2-ordered-mirror":     "v2",
		"v1-version-marker":     "v1 (marker)",
		"v0-regular-activities": "v0",
	} {
		files, err := filepath.Glob(filepath.Join("..", "workflows", "testdata", dir, "*.json"))
		require.NoError(t, err)
		require.NotEmpty(t, files, dir)
		for _, f := range files {
			r, err := os.Open(f)
			require.NoError(t, err)
			h, err := client.HistoryFromJSON(r, client.HistoryJSONOptions{})
			r.Close()
			require.NoError(t, err, f)
			require.Equal(t, want, replay.Version(h), f)
		}
	}
}
