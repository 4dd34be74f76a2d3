package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"
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

// VersionLocalActivities is the ChangeLocalActivities version of workflows
// that run mirror writes and publishes as local activities. Workflows started
// before it keep regular activities until they close.
const VersionLocalActivities workflow.Version = 1

// VersionOrderedMirror is the version of workflows whose mirror writes run
// one after another, each started when the one before it has finished, and
// that write no SENDING row when the publish ends within its local try. Only
// a version pinned in the input (Input.Version) can be VersionOrderedMirror
// or later; GetVersion answers VersionLocalActivities at most.
const VersionOrderedMirror workflow.Version = 2

// VersionDetachedMirror is the version of workflows whose SENDING mirror
// write, made when a publish outlasts its local try, is not cancelled when
// the publish ends, and which take the status search attribute set at start
// from their input (Input.StartStatus). Before it, that write could be
// cancelled in flight (its context was the publish's), losing the SENDING
// row, and a workflow could end Canceled when the cancellation reached its
// final flush; and a workflow read its start attributes, which a Temporal
// node with a lagging namespace cache shows without Courier's, so that a
// history could upsert on one run and not on its replay.
const VersionDetachedMirror workflow.Version = 3

// VersionEarlyCompletion is the version of workflows that hold a consumer's
// complete arriving while the message is not sent yet (WAITING_CONFIRM,
// CHECK_EXHAUSTED, SCHEDULED; models.Accepted) and apply it right after
// they publish the message, or drop it if the message is cancelled. Before
// it, such a complete was refused as "not sent", though a consumer could
// hold the message: a workflow task publishes when it decides to send,
// before Temporal commits the task, and a lost task left the message
// published and the workflow's committed state unsent.
const VersionEarlyCompletion workflow.Version = 4

// CurrentVersion is the newest workflow code version, the one new messages
// are started with (Input.Version). Starting with the version in the input
// is itself a version: workflows with Input.Version set never call
// GetVersion, and those without keep calling it until they close.
const CurrentVersion = VersionEarlyCompletion

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
func behaviourOf(v workflow.Version) behaviour {
	return behaviour{
		localFirst:                v >= VersionLocalActivities,
		historyRevisions:          v >= VersionLocalActivities,
		searchSkipsPassingSending: v >= VersionLocalActivities,
		mirrorSkipsPassingSending: v >= VersionOrderedMirror,
		orderedMirror:             v >= VersionOrderedMirror,
		detachedFallback:          v >= VersionDetachedMirror,
		startStatusInInput:        v >= VersionDetachedMirror,
		holdEarlyCompletion:       v >= VersionEarlyCompletion,
	}
}

// version is the workflow code version this message runs: the one pinned in
// its input, or for inputs without one, what GetVersion recorded.
func (r *messageRun) version(ctx workflow.Context) workflow.Version {
	if r.pinned == 0 {
		return workflow.GetVersion(ctx, ChangeLocalActivities, workflow.DefaultVersion, VersionLocalActivities)
	}
	if r.pinned > CurrentVersion {
		// Started by a newer Courier. Like GetVersion with a version it does
		// not know, fail the workflow task; the server retries it until a
		// worker that knows the version takes it.
		panic(fmt.Sprintf("message %s was started with workflow version %d; this worker runs versions up to %d",
			r.msg.ID, r.pinned, CurrentVersion))
	}
	return r.pinned
}
