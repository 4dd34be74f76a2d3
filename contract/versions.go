package contract

// Version is a workflow code version. New messages are started with
// CurrentVersion pinned in their input (Input.Version); the workflow package
// says what each version does and how an old one is retired.
//
// Versions before VersionDetachedMirror are retired: this release's workflow
// code no longer runs them, and fails the workflow task of a message started
// with one (Input.Version 0 included) with a panic that says so. Their
// constants stay, since recorded inputs and markers hold them.
type Version int

// ChangeLocalActivities is the workflow.GetVersion change ID under which
// workflows without a version in their input recorded whether they ran
// mirror writes and publishes as local activities (VersionLocalActivities)
// or not (version 0). Retired; such histories still name it.
const ChangeLocalActivities = "local-activities"

// VersionLocalActivities is the ChangeLocalActivities version of workflows
// that run mirror writes and publishes as local activities. Workflows started
// before it kept regular activities until they closed. Retired.
const VersionLocalActivities Version = 1

// VersionOrderedMirror is the version of workflows whose mirror writes run
// one after another, each started when the one before it has finished, and
// that write no SENDING row when the publish ends within its local try. It
// was the first version pinned in the input (Input.Version); GetVersion
// answers VersionLocalActivities at most. Retired.
const VersionOrderedMirror Version = 2

// VersionDetachedMirror is the version of workflows whose SENDING mirror
// write, made when a publish outlasts its local try, is not cancelled when
// the publish ends, and which take the status search attribute set at start
// from their input (Input.StartStatus). Before it, that write could be
// cancelled in flight (its context was the publish's), losing the SENDING
// row, and a workflow could end Canceled when the cancellation reached its
// final flush; and a workflow read its start attributes, which a Temporal
// node with a lagging namespace cache shows without Courier's, so that a
// history could upsert on one run and not on its replay. It is the oldest
// version the workflow still runs.
const VersionDetachedMirror Version = 3

// VersionEarlyCompletion is the version of workflows that hold a consumer's
// complete arriving while the message is not sent yet (WAITING_CONFIRM,
// CHECK_EXHAUSTED, SCHEDULED; wire.Accepted) and apply it right after
// they publish the message, or drop it if the message is cancelled. Before
// it, such a complete was refused as "not sent", though a consumer could
// hold the message: a workflow task publishes when it decides to send,
// before Temporal commits the task, and a lost task left the message
// published and the workflow's committed state unsent.
const VersionEarlyCompletion Version = 4

// CurrentVersion is the newest workflow code version, the one new messages
// are started with (Input.Version). Every start must pin it: an input
// without a version is of the retired unpinned workflows, and fails.
const CurrentVersion = VersionEarlyCompletion
