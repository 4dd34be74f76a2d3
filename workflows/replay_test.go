package workflows

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/contract"
)

// TestReplay replays every history in testdata/ against the current workflow
// code. A failure means a change would break messages already in flight: put
// it behind a new CurrentVersion (see Input.Version). The histories are recorded from real runs on
// a real Temporal server by
//
//	go test ./worker -run TestLifecycle -record
//
// testdata/v0-regular-activities holds histories from before
// VersionLocalActivities, when mirror writes and publishes were regular
// activities; testdata/v1-version-marker those of VersionLocalActivities
// chosen by GetVersion, before the version was pinned in the input;
// testdata/v2-ordered-mirror those of VersionOrderedMirror, before
// VersionDetachedMirror; testdata/v3-detached-mirror those of
// VersionDetachedMirror, before VersionEarlyCompletion.
// early_complete.json holds a complete that came before the confirm and was
// applied after its publish, early_complete_cancel.json one dropped by the
// cancel.
func TestReplay(t *testing.T) {
	t.Parallel()
	current, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, current, "no recorded histories in testdata/")
	// Histories recorded by earlier versions of the workflow stay in
	// subdirectories named after what they were recorded with, and must
	// replay for as long as such workflows can still be open.
	older, err := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, older, "no histories of earlier workflow versions in testdata/*/")
	for _, file := range append(current, older...) {
		name, err := filepath.Rel("testdata", file)
		require.NoError(t, err)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflowWithOptions(MessageWorkflow, workflow.RegisterOptions{Name: contract.WorkflowType})
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, file))
		})
	}
}
