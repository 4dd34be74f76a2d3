package workflows

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/contract"
)

// TestReplay replays every history in testdata/ against the current workflow
// code. A failure means a change would break messages already in flight: put
// it behind a new CurrentVersion (see Input.Version). The histories are
// recorded from real runs on a real Temporal server by
//
//	go test ./worker -run TestLifecycle -record
//
// Histories recorded by earlier versions stay in subdirectories named after
// what they were recorded with (generations), and replay for as long as
// their version is live: testdata/v3-detached-mirror holds those of
// VersionDetachedMirror, before VersionEarlyCompletion. early_complete.json
// holds a complete that came before the confirm and was applied after its
// publish, early_complete_cancel.json one dropped by the cancel.
//
// The histories of retired versions stay too, and must fail, each with the
// retirement panic, not a nondeterminism error part of the way in: that is
// how a message of a retired version is kept from running code it was not
// recorded with. testdata/v0-regular-activities holds those from before
// VersionLocalActivities, when mirror writes and publishes were regular
// activities; testdata/v1-version-marker those of VersionLocalActivities
// chosen by GetVersion, before the version was pinned in the input;
// testdata/v2-ordered-mirror those of VersionOrderedMirror.
func TestReplay(t *testing.T) {
	t.Parallel()
	// retired is the version each retired generation pins in its input:
	// v1's was chosen by GetVersion, so its input pins none, as v0's.
	retired := map[string]contract.Version{
		"v0-regular-activities": 0,
		"v1-version-marker":     0,
		"v2-ordered-mirror":     contract.VersionOrderedMirror,
	}
	live := []string{".", "v3-detached-mirror"}
	dirs, err := os.ReadDir("testdata")
	require.NoError(t, err)
	for _, d := range dirs {
		if d.IsDir() {
			_, isRetired := retired[d.Name()]
			require.True(t, isRetired || d.Name() == live[1], "testdata/%s is neither a live nor a retired generation", d.Name())
		}
	}
	replay := func(t *testing.T, dir string, check func(*testing.T, error)) {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		require.NoError(t, err)
		require.NotEmpty(t, files, "no recorded histories in testdata/%s", dir)
		for _, file := range files {
			name, err := filepath.Rel("testdata", file)
			require.NoError(t, err)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				replayer := worker.NewWorkflowReplayer()
				replayer.RegisterWorkflowWithOptions(MessageWorkflow, workflow.RegisterOptions{Name: contract.WorkflowType})
				check(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, file))
			})
		}
	}
	for _, dir := range live {
		replay(t, dir, func(t *testing.T, err error) { require.NoError(t, err) })
	}
	for dir, v := range retired {
		replay(t, dir, func(t *testing.T, err error) {
			require.Error(t, err)
			require.Contains(t, err.Error(), fmt.Sprintf("started with retired workflow version %d", v))
			// TMPRL1100 is the SDK's code for a history the code no
			// longer matches: the panic must come before any such.
			require.NotContains(t, err.Error(), "TMPRL1100")
		})
	}
}
