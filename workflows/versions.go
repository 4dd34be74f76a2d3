package workflows

import (
	"fmt"

	"github.com/courier-mq/courier/contract"
)

// Workflow code versions. A message runs the version it started with until it
// closes, so every version from contract.VersionDetachedMirror up to
// CurrentVersion stays live while a message of it may be open.
//
// When an old version's code may go: when no open workflow can run it. A
// version stops being started when the first gateway of the release that
// raised CurrentVersion past it starts; so once every gateway of older
// releases has stopped (at time T), an operator checks
//
//	temporal workflow count --query 'WorkflowType="CourierMessage" AND ExecutionStatus="Running" AND StartTime < "T"'
//
// and when it answers 0, no workflow of an older version is open. Parked
// messages (CHECK_EXHAUSTED, DEAD) are open workflows and count: settle or
// re-drive them first. Then the version's fields in behaviour may be made
// unconditional and their other branches deleted, and behaviourOf refuses
// the version as retired: a history of it fails its workflow task with that
// panic instead of running code it was not recorded with. Its recorded
// histories stay in testdata/, and the replay test asserts they fail so.
// The version constants themselves stay: they are in recorded inputs and
// markers.
//
// Retired: the unpinned inputs (Input.Version 0, which chose between regular
// activities and VersionLocalActivities with workflow.GetVersion),
// VersionLocalActivities and VersionOrderedMirror.

// behaviour is what one live workflow code version does differently. Every
// branch on a version reads one of its fields, and behaviourOf is the one
// place that says which versions do what.
type behaviour struct {
	// holdEarlyCompletion: a complete of a message not sent yet is held
	// until the message is published (see decide), not refused.
	holdEarlyCompletion bool
}

// behaviourOf is what the code version pinned in in does. A version this
// worker does not run fails the workflow task, as GetVersion does with a
// version it does not know; the server retries the task until a worker that
// runs the version takes it.
func behaviourOf(in contract.Input) behaviour {
	v := in.Version
	if v > contract.CurrentVersion {
		panic(fmt.Sprintf("message %s was started with workflow version %d; this worker runs versions up to %d",
			in.Message.ID, v, contract.CurrentVersion))
	}
	if v < contract.VersionDetachedMirror {
		unpinned := ""
		if v == 0 {
			unpinned = " (its input pins none)"
		}
		panic(fmt.Sprintf("message %s was started with retired workflow version %d%s; this worker runs versions %d to %d. "+
			"Run a Courier release that still runs it until such messages have closed (settle or re-drive the parked ones), then roll this one out",
			in.Message.ID, v, unpinned, contract.VersionDetachedMirror, contract.CurrentVersion))
	}
	return behaviour{
		holdEarlyCompletion: v >= contract.VersionEarlyCompletion,
	}
}
