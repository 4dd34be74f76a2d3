package wire

// Status is where a message is in its lifecycle. The same names are used by
// the workflow, the mirror table, the CourierStatus search attribute and the
// HTTP API.
type Status string

// The lifecycle states. See Courier's README for the diagram.
const (
	// StatusWaitingConfirm: prepared, waiting for the producer's confirm or
	// cancel; the check-back timer asks the producer when neither arrives.
	StatusWaitingConfirm Status = "WAITING_CONFIRM"
	// StatusCheckExhausted: every allowed check-back went unanswered; parked
	// until an operator confirms or cancels. Never sent and never dropped on
	// its own.
	StatusCheckExhausted Status = "CHECK_EXHAUSTED"
	// StatusScheduled: confirmed, waiting for its deliver_at time before
	// sending.
	StatusScheduled Status = "SCHEDULED"
	// StatusSending: confirmed; Courier is writing it to Kafka.
	StatusSending Status = "SENDING"
	// StatusDelivered: accepted by Kafka, waiting for the consumers'
	// completion.
	StatusDelivered Status = "DELIVERED"
	// StatusDead: Kafka rejected it permanently, or the resend schedule ran
	// out without completion. Parked for an operator's re-drive; a late
	// complete still completes it.
	StatusDead Status = "DEAD"
	// StatusCompleted: every expected consumer signalled completion. Terminal.
	StatusCompleted Status = "COMPLETED"
	// StatusCancelled: the producer's transaction rolled back. Terminal; never
	// sent.
	StatusCancelled Status = "CANCELLED"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{
	StatusWaitingConfirm, StatusCheckExhausted, StatusScheduled, StatusSending,
	StatusDelivered, StatusDead, StatusCompleted, StatusCancelled,
}

// Terminal reports whether the message's workflow has ended in this status.
func (s Status) Terminal() bool { return s == StatusCompleted || s == StatusCancelled }

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	for _, known := range Statuses {
		if s == known {
			return true
		}
	}
	return false
}

// Outcome is what Courier did with a confirm, cancel, complete or redrive.
type Outcome string

const (
	// Applied: it moved the message on.
	Applied Outcome = "applied"
	// Repeated: its effect had happened already; nothing changed.
	Repeated Outcome = "repeated"
	// Accepted: Courier took the request and acts on it later: the
	// message's workflow could not be asked in time and decides it when it
	// runs (see Message.Signals), or a complete came before Courier saw its own
	// publish (after a crash lost that step) and is applied once the
	// message is published. Either way the caller is done.
	Accepted Outcome = "accepted"
	// Rejected: the message's state made the request impossible. An answer
	// never carries it (the request is refused with 409 conflict instead);
	// it appears in Message.Signals of the live view.
	Rejected Outcome = "rejected"
)

// Outcomes lists every outcome.
var Outcomes = []Outcome{Applied, Repeated, Accepted, Rejected}
