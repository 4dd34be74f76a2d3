package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/contract"
)

// Workflow code versions. A message runs the version it started with until it
// closes, so every version below CurrentVersion stays live while a message of
// it may be open.
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
// re-drive them first. Then the version's branch in behaviourOf may be
// deleted, together with its constant's uses; its recorded histories stay in
// testdata/ and must still replay, since replaying them is how a history of
// that version would fail instead of running wrong code. The version
// constants themselves stay: they are in recorded inputs and markers.

// ChangeLocalActivities is the workflow.GetVersion change ID under which
// mirror writes and publishes became local activities.
const ChangeLocalActivities = "local-activities"

// behaviour is what one workflow code version does differently. Every branch
// on a version reads one of its fields, and behaviourOf is the one place that
// says which versions do what.
type behaviour struct {
	// localFirst: mirror writes and publishes are tried as local activities
	// first (see localFirst).
	localFirst bool
	// historyRevisions: mirror revisions lead with the history length (see
	// mirrorRevision).
	historyRevisions bool
	// searchSkipsPassingSending: a SENDING that passes within the local
	// publish is not upserted as a search attribute.
	searchSkipsPassingSending bool
	// mirrorSkipsPassingSending: nor written to the mirror.
	mirrorSkipsPassingSending bool
	// orderedMirror: a mirror write starts when the one before it has ended.
	orderedMirror bool
	// detachedFallback: what a local try's failure starts (the SENDING
	// mirror write) runs on a context the publish's end does not cancel.
	detachedFallback bool
	// startStatusInInput: the status search attribute set at start is
	// Input.StartStatus, not what the start event shows.
	startStatusInInput bool
	// holdEarlyCompletion: a complete of a message not sent yet is held
	// until the message is published (see decide), not refused.
	holdEarlyCompletion bool
}

// behaviourOf is what code version v does.
func behaviourOf(v contract.Version) behaviour {
	return behaviour{
		localFirst:                v >= contract.VersionLocalActivities,
		historyRevisions:          v >= contract.VersionLocalActivities,
		searchSkipsPassingSending: v >= contract.VersionLocalActivities,
		mirrorSkipsPassingSending: v >= contract.VersionOrderedMirror,
		orderedMirror:             v >= contract.VersionOrderedMirror,
		detachedFallback:          v >= contract.VersionDetachedMirror,
		startStatusInInput:        v >= contract.VersionDetachedMirror,
		holdEarlyCompletion:       v >= contract.VersionEarlyCompletion,
	}
}

// version is the workflow code version this message runs: the one pinned in
// its input, or for inputs without one, what GetVersion recorded.
func (r *messageRun) version(ctx workflow.Context) contract.Version {
	if r.pinned == 0 {
		return contract.Version(workflow.GetVersion(ctx, ChangeLocalActivities, workflow.DefaultVersion, workflow.Version(contract.VersionLocalActivities)))
	}
	if r.pinned > contract.CurrentVersion {
		// Started by a newer Courier. Like GetVersion with a version it does
		// not know, fail the workflow task; the server retries it until a
		// worker that knows the version takes it.
		panic(fmt.Sprintf("message %s was started with workflow version %d; this worker runs versions up to %d",
			r.msg.ID, r.pinned, contract.CurrentVersion))
	}
	return r.pinned
}
