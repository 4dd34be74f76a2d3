package contract

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/tracing"
)

// TaskQueue is the task queue every message workflow and its activities run on.
const TaskQueue = "courier"

// RetentionWorkflowType is the registered name of RetentionWorkflow, and
// RetentionScheduleID the Temporal Schedule that starts it (see
// worker.EnsureRetention).
const (
	RetentionWorkflowType = "CourierMirrorRetention"
	RetentionScheduleID   = "courier-mirror-retention"
)

// WorkflowType is the registered name of MessageWorkflow. It is part of every
// recorded history, so it never changes.
const WorkflowType = "CourierMessage"

// WorkflowIDPrefix starts every message workflow ID.
const WorkflowIDPrefix = "msg-"

// WorkflowID is the ID of the workflow that carries the message with this id.
// One message is one workflow, so starting a second one with the same id fails.
func WorkflowID(messageID string) string { return WorkflowIDPrefix + messageID }

// Signal names. Every signal is idempotent: a duplicate, late or out-of-state
// signal changes nothing and is recorded in State.Signals with its outcome.
const (
	// SignalConfirm carries a Decision: the producer's transaction committed.
	SignalConfirm = string(models.Confirm)
	// SignalCancel carries a Decision: the producer's transaction rolled back.
	SignalCancel = string(models.Cancel)
	// SignalComplete carries a Completion: a consumer processed the message.
	SignalComplete = string(models.Complete)
	// SignalRedrive carries a Decision: an operator sends a DEAD message again.
	SignalRedrive = string(models.Redrive)
)

// Each signal can also be sent as a workflow update of the same name and
// argument, which answers at once with what it did. The update's validator
// rejects one that Decide would neither apply nor accept, with a
// *temporal.ApplicationError whose type is the Disposition (UpdateRepeated
// or UpdateRejected), whose message is the reason and whose details hold the
// message's status; a rejected update leaves nothing in the history. An
// applied or accepted one returns an UpdateResult once the workflow has
// acted on it.
const (
	UpdateRepeated = string(wire.Repeated)
	UpdateRejected = string(wire.Rejected)
)

// UpdateResult answers an update the workflow took: the status the message
// was in when it did, and the one it is in after.
type UpdateResult struct {
	// Status is the status the update was decided on.
	Status wire.Status `json:"status"`
	// After is the status the update left the message in: the one an
	// applied update moved it to, or Status for an accepted one. Results
	// recorded by workflows before it have none.
	After wire.Status `json:"after,omitempty"`
	// Outcome is empty for an applied update, and wire.Accepted for a
	// complete the workflow holds until the message is published (see
	// State.EarlyCompletions), with Reason saying so.
	Outcome wire.Outcome `json:"outcome,omitempty"`
	Reason  string       `json:"reason,omitempty"`
}

// QueryState returns the message's Story, its State and more.
const QueryState = "state"

// Memo fields set at start. With them the workflow's description alone, which
// needs no worker, tells whether a start is a retry and decides an action.
const (
	// memoFingerprint holds the starter's fingerprint of its request.
	memoFingerprint = "courier_fingerprint"
	// memoDecision holds a decisionMemo.
	memoDecision = "courier_decision"
	// memoConsumers held the named consumers as a list in workflows started
	// before memoDecision. Temporal drops a memo field whose value is an
	// empty list, so it was missing for messages without named consumers;
	// it is still read for the others until none of them is open (see
	// versions.go for how an operator checks).
	memoConsumers = "courier_consumers"
)

// decisionMemo is what deciding an action needs beyond the status: the
// message's named consumers. An object, never empty, so Temporal keeps it.
type decisionMemo struct {
	Consumers []string `json:"consumers"`
}

// Search attributes, so the Temporal Web UI can list e.g. CourierStatus =
// "DEAD" or CourierProducer = "orders". Status and topic are upserted at
// every transition; the producer is set once, at start, for messages that
// name one. All are Keyword attributes registered on the namespace before the
// first workflow starts.
var (
	SearchAttrStatus   = temporal.NewSearchAttributeKeyKeyword("CourierStatus")
	SearchAttrTopic    = temporal.NewSearchAttributeKeyKeyword("CourierTopic")
	SearchAttrProducer = temporal.NewSearchAttributeKeyKeyword("CourierProducer")
)

// Message is what the producer prepared: immutable for the message's life.
type Message struct {
	ID       string            `json:"id"`
	Topic    string            `json:"topic"`
	Key      string            `json:"key,omitempty"`
	Payload  []byte            `json:"payload"`
	Headers  map[string]string `json:"headers,omitempty"`
	Producer string            `json:"producer,omitempty"`
	CheckURL string            `json:"check_url"`
	// Consumers names the consumers that must each complete the message. Empty
	// means one complete from anyone completes it.
	Consumers []string `json:"consumers,omitempty"`
	// DeliverAt delays sending a confirmed message until then.
	DeliverAt *time.Time `json:"deliver_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

// Input starts a MessageWorkflow. Policy is resolved (server defaults plus the
// message's overrides) and validated before the workflow starts, so the
// workflow never depends on the worker's configuration.
type Input struct {
	Message Message `json:"message"`
	Policy  Policy  `json:"policy"`
	// Confirmed starts the workflow already confirmed: the direct-send path for
	// producers without a local transaction.
	Confirmed bool `json:"confirmed,omitempty"`
	// Version pins the workflow code version for this message at its start
	// (CurrentVersion for every new start). A version in the input is part
	// of the history from its first event, so the workflow needs no
	// GetVersion marker, nor the TemporalChangeVersion search-attribute
	// upsert that comes with one: two history events and a visibility
	// write per message. Zero means the starter did not pin one, as
	// inputs from before versions were pinned did: such workflows are
	// retired (see Version), and the workflow refuses to run them.
	Version Version `json:"version,omitempty"`
	// StartStatus is the CourierStatus search attribute the starter set
	// (Client.Start sets FirstStatus). From VersionDetachedMirror on, the
	// workflow takes it from here rather than reading its search attributes,
	// which a Temporal node whose namespace cache lags the attribute's
	// registration shows without it: the same history would then upsert on
	// one run and not on its replay.
	StartStatus wire.Status `json:"start_status,omitempty"`
	// Trace is the W3C trace context (traceparent, tracestate) of the
	// gateway call that started the message, continuing its caller's trace.
	// The workflow parents its phase spans, the check-back request and the
	// Kafka record to it, for the message's whole life. Empty when the
	// caller sent none and Courier exports no traces. Workflows ignore it
	// apart from tracing, so it needs no workflow version.
	Trace tracing.Carrier `json:"trace,omitempty"`
}

// FirstStatus is the status the message enters when its workflow starts at
// now: WAITING_CONFIRM for a prepared message, and for a direct send the
// status a confirmation leads to. The client sets it as the status search
// attribute at start; the workflow enters it by the same rule.
func (in Input) FirstStatus(now time.Time) wire.Status {
	if !in.Confirmed {
		return wire.StatusWaitingConfirm
	}
	return ConfirmedStatus(in.Message.DeliverAt, now)
}

// ConfirmedStatus is the status a message confirmed at now enters:
// SCHEDULED while its deliver_at is ahead, else SENDING.
func ConfirmedStatus(deliverAt *time.Time, now time.Time) wire.Status {
	if deliverAt != nil && deliverAt.After(now) {
		return wire.StatusScheduled
	}
	return wire.StatusSending
}

// Result is how a MessageWorkflow ended. The Temporal Web UI shows it as the
// workflow's result, where Status tells a CANCELLED message from a
// COMPLETED one: Temporal calls both workflows completed.
type Result struct {
	Status      wire.Status `json:"status"`
	CheckCount  int         `json:"check_count"`
	SendCount   int         `json:"send_count"`
	CompletedBy []string    `json:"completed_by,omitempty"`
	// LastError is State.LastError when the workflow ended: for a message an
	// operator settled, who did what and why.
	LastError string `json:"last_error,omitempty"`
}

// Decision is the payload of SignalConfirm, SignalCancel and SignalRedrive.
type Decision struct {
	// By says who decided: "producer", "operator", ...; shown in the state.
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Operator marks an operator's action (Request.Operator), which the
	// workflow states in LastError, with By and Reason, in place of the
	// error it settles.
	Operator bool `json:"operator,omitempty"`
}

// Completion is the payload of SignalComplete.
type Completion struct {
	// Consumer names the consumer group that processed the message. Required
	// when the message lists Consumers; ignored otherwise.
	Consumer string `json:"consumer,omitempty"`
}

// State is the answer to QueryState: everything the workflow knows.
type State struct {
	MessageID string `json:"message_id"`
	Topic     string `json:"topic"`
	// TraceID is the W3C trace id the message's spans belong to (from
	// Input.Trace); empty when it has none.
	TraceID     string      `json:"trace_id,omitempty"`
	Status      wire.Status `json:"status"`
	Revision    int64       `json:"revision"`
	CheckCount  int         `json:"check_count"`
	SendCount   int         `json:"send_count"`
	Consumers   []string    `json:"consumers,omitempty"`
	CompletedBy []string    `json:"completed_by,omitempty"`
	// EarlyCompletions are the completes that came before the message was
	// published (wire.Accepted), held until the workflow publishes it,
	// when they are applied, or it is cancelled, when they are dropped;
	// both are recorded in Signals.
	EarlyCompletions []EarlyCompletion `json:"early_completions,omitempty"`
	// LastError is the newest error, or what an operator did since: an
	// operator's action (Decision.Operator) replaces it with e.g.
	// `cancelled by operator alice: "duplicate order"`, which stays until a
	// later error replaces it.
	LastError string `json:"last_error,omitempty"`
	// NextAt is when the workflow acts next on its own (check-back, send, resend,
	// DEAD); nil while it waits only for a signal.
	NextAt      *time.Time `json:"next_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	DeliverAt   *time.Time `json:"deliver_at,omitempty"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
	PublishedAt *time.Time `json:"published_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`

	Checks    []CheckRecord   `json:"checks,omitempty"`
	Publishes []PublishRecord `json:"publishes,omitempty"`
	Signals   []SignalRecord  `json:"signals,omitempty"`
	// SignalsDropped counts signal records beyond MaxSignalRecords.
	SignalsDropped int `json:"signals_dropped,omitempty"`
}

// Story is QueryState's whole answer: the State, which the API's live view
// shows member for member (gateway's TestOneMessageView), and what the
// console's message page shows beyond it. Its JSON is the State's with more
// members, so Client.State reads the same answer, and a worker of a release
// before Story answers a Story without them.
type Story struct {
	State
	// Next says what the workflow does at NextAt: "check-back 4 of 15",
	// "send 1", "resend 2 of 6", "DEAD (no sends left)", "publish again
	// (send 2)". Empty when NextAt is nil.
	Next string `json:"next,omitempty"`
	// Policy is the message's effective timing: the server's defaults with
	// the message's own overrides, as the workflow runs it.
	Policy Policy `json:"policy"`
	// Transitions are the message's status changes, oldest first; the
	// first is the entry into its first status. Beyond
	// MaxTransitionRecords the oldest are dropped and counted in
	// TransitionsDropped.
	Transitions        []TransitionRecord `json:"transitions,omitempty"`
	TransitionsDropped int                `json:"transitions_dropped,omitempty"`
}

// TransitionRecord is one status change and why it happened.
type TransitionRecord struct {
	At time.Time `json:"at"`
	// From is empty for the entry into the message's first status.
	From wire.Status `json:"from,omitempty"`
	To   wire.Status `json:"to"`
	// Why names the cause: a check-back's answer, the limit reached, a
	// signal or an operator's action with who and why, a publish's
	// outcome, the sends used up.
	Why string `json:"why"`
}

// MaxTransitionRecords bounds State.Transitions: re-drives repeated without
// end would otherwise grow the query answer without limit.
const MaxTransitionRecords = 100

// CheckRecord is one check-back and the producer's answer.
type CheckRecord struct {
	Attempt int                `json:"attempt"`
	At      time.Time          `json:"at"`
	Answer  models.CheckAnswer `json:"answer"`
	Detail  string             `json:"detail,omitempty"`
}

// PublishRecord is one send to Kafka, successful or not.
type PublishRecord struct {
	Attempt   int       `json:"attempt"`
	At        time.Time `json:"at"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Error     string    `json:"error,omitempty"`
}

// SignalRecord is one signal the workflow received and what it did with it.
type SignalRecord struct {
	Name     string       `json:"name"`
	At       time.Time    `json:"at"`
	Outcome  wire.Outcome `json:"outcome"`
	By       string       `json:"by,omitempty"`
	Consumer string       `json:"consumer,omitempty"`
	// Reason explains an ignored or rejected signal.
	Reason string `json:"reason,omitempty"`
}

// EarlyCompletion is a complete held until the message is published.
type EarlyCompletion struct {
	// Consumer is the completing consumer; empty when the message names no
	// consumers and the complete named none.
	Consumer string    `json:"consumer,omitempty"`
	At       time.Time `json:"at"`
}

// MaxSignalRecords bounds State.Signals so that a client repeating a signal
// cannot grow the query answer without limit.
const MaxSignalRecords = 100

// Policy is the timing of one message's lifecycle, as the workflow's input
// carries it: wire.Timing, the one declaration the Go client shares, so
// that the client computes the spans its barrier and dedupe rows must
// outlast with the workflow's own formula.
type Policy = wire.Timing
