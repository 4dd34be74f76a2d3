package wire

import (
	"encoding/base64"
	"encoding/json"
	"time"
)

// The JSON bodies of Courier's HTTP API, each named after its schema in
// gateway/openapi.yaml. Optional request fields are pointers where the
// gateway must tell "absent" from a zero value.

// PrepareRequest is the body of POST /v1/messages (prepare) and POST
// /v1/messages/send. Exactly one of Payload and PayloadBase64 is given; JSON
// null counts as absent.
type PrepareRequest struct {
	// ID is optional; the gateway generates a UUID when it is absent. An
	// empty one is a client's bug, not a request for a generated id.
	ID    *string `json:"id,omitempty"`
	Topic string  `json:"topic"`
	Key   string  `json:"key,omitempty"`
	// Payload is any JSON value, sent to Kafka as its raw bytes.
	Payload       json.RawMessage   `json:"payload,omitempty"`
	PayloadBase64 *string           `json:"payload_base64,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	CheckURL      string            `json:"check_url,omitempty"`
	Producer      string            `json:"producer,omitempty"`
	Consumers     []string          `json:"consumers,omitempty"`
	// DeliverAt is an RFC 3339 time; a string, so that the gateway can say
	// what is wrong with a malformed one.
	DeliverAt *string `json:"deliver_at,omitempty"`
	Policy    *Policy `json:"policy,omitempty"`
}

// Policy is a message's own timing: Go duration strings ("30s", "1m30s") and
// numbers. Absent fields take the server's defaults; present ones must be
// meaningful, so an explicit zero is refused rather than replaced by the
// default.
type Policy struct {
	CheckDelay         *string  `json:"check_delay,omitempty"`
	CheckBackoff       *float64 `json:"check_backoff,omitempty"`
	CheckMaxDelay      *string  `json:"check_max_delay,omitempty"`
	CheckMaxAttempts   *int     `json:"check_max_attempts,omitempty"`
	CheckTimeout       *string  `json:"check_timeout,omitempty"`
	ResendIntervals    []string `json:"resend_intervals,omitempty"`
	PublishMaxInterval *string  `json:"publish_max_interval,omitempty"`
}

// PrepareResponse answers prepare and send: 201 when the message was
// created, 200 with its current status when the same request was made
// before.
type PrepareResponse struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
}

// DecisionRequest is the optional body of confirm, cancel and redrive.
type DecisionRequest struct {
	Reason string `json:"reason,omitempty"`
}

// CompletionRequest is the optional body of complete.
type CompletionRequest struct {
	// Consumer is who completes; required when the message names its
	// consumers.
	Consumer string `json:"consumer,omitempty"`
}

// SignalResponse answers confirm, cancel, complete and redrive. A refused
// request (the message's state makes it impossible) is 409 conflict instead.
type SignalResponse struct {
	ID string `json:"id"`
	// Status is the message's status after the decision: the one an applied
	// request moved it to. A repeated or accepted request leaves it as it
	// was (PreviousStatus); so does one applied while its workflow could not
	// answer in time, which acts on it when it runs.
	Status Status `json:"status"`
	// PreviousStatus is the status the request was decided on. Gateways
	// before it answered that in Status.
	PreviousStatus Status  `json:"previous_status"`
	Outcome        Outcome `json:"outcome"`
	// Reason says why a request was repeated or accepted; empty when applied.
	Reason string `json:"reason,omitempty"`
}

// RedriveRequest is the body of POST /v1/messages/redrive.
type RedriveRequest struct {
	Topic string `json:"topic"`
	// Limit is how many DEAD messages to re-drive at most; absent is the
	// gateway's default.
	Limit  *int   `json:"limit,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// RedriveResponse answers POST /v1/messages/redrive.
type RedriveResponse struct {
	Redriven int              `json:"redriven"`
	Failed   []RedriveFailure `json:"failed"`
}

// RedriveFailure is a message a re-drive by topic could not signal.
type RedriveFailure struct {
	ID    string      `json:"id"`
	Error ErrorDetail `json:"error"`
}

// Error is the body of every error answer.
type Error struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is an error's code ("conflict", ...) and its explanation.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Message is a message as GET /v1/messages/{id} and the list show it: one
// view whether it is read from the mirror or, with ?live=1, from the
// workflow. The payload is JSON when it is valid JSON, else base64; list
// items have none. The members from CompletedBy on are the workflow's own
// record, present only in the live view.
type Message struct {
	ID            string            `json:"id"`
	Topic         string            `json:"topic"`
	Key           string            `json:"key,omitempty"`
	Payload       json.RawMessage   `json:"payload,omitempty"`
	PayloadBase64 *string           `json:"payload_base64,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	Producer      string            `json:"producer,omitempty"`
	CheckURL      string            `json:"check_url,omitempty"`
	Consumers     []string          `json:"consumers,omitempty"`
	DeliverAt     *time.Time        `json:"deliver_at,omitempty"`
	Status        Status            `json:"status"`
	CheckCount    int               `json:"check_count"`
	SendCount     int               `json:"send_count"`
	LastError     string            `json:"last_error,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
	ConfirmedAt   *time.Time        `json:"confirmed_at,omitempty"`
	PublishedAt   *time.Time        `json:"published_at,omitempty"`
	CompletedAt   *time.Time        `json:"completed_at,omitempty"`
	// UpdatedAt is when the mirror row was last written; absent from a
	// view the mirror did not give.
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	// StatusAt is when the message entered its current status, as the
	// mirror recorded it: the time in that status is counted from it (on a
	// row a release before it wrote, its last write). Absent from a view
	// the mirror did not give.
	StatusAt *time.Time `json:"status_at,omitempty"`
	// Revision orders the message's transitions within one source: a
	// higher one is a later state. The mirror's and the workflow's (live)
	// are counted differently, so compare only revisions of one Source.
	Revision int64 `json:"revision,omitempty"`
	// Source says where the status, counts and times came from:
	// SourceMirror, or SourceWorkflow for the live view and while the
	// mirror has not caught up with a just-prepared message (then the
	// payload, key, headers, producer and check URL are not shown).
	Source string `json:"source"`

	// CompletedBy are the consumers whose completes were applied (live).
	CompletedBy []string `json:"completed_by,omitempty"`
	// EarlyCompletions are completes that came before the message was
	// published, held until the workflow publishes it (live).
	EarlyCompletions []EarlyCompletion `json:"early_completions,omitempty"`
	// NextAt is when the workflow acts next on its own; nil while it waits
	// only for a request (live).
	NextAt *time.Time `json:"next_at,omitempty"`
	// Checks are the check-backs and their answers (live).
	Checks []CheckRecord `json:"checks,omitempty"`
	// Publishes are the sends to Kafka (live).
	Publishes []PublishRecord `json:"publishes,omitempty"`
	// Signals are the requests the workflow received and what it did
	// (live).
	Signals []SignalRecord `json:"signals,omitempty"`
	// SignalsDropped counts the requests not kept in Signals, past its
	// bound (live).
	SignalsDropped int `json:"signals_dropped,omitempty"`
	// TraceID is the W3C trace id of the message's trace (live), when the
	// call that started it carried or made one.
	TraceID string `json:"trace_id,omitempty"`
}

// The values of Message.Source.
const (
	SourceMirror   = "mirror"
	SourceWorkflow = "workflow"
)

// Bytes is the message's payload as it went to Kafka.
func (m Message) Bytes() ([]byte, error) {
	if m.PayloadBase64 != nil {
		return base64.StdEncoding.DecodeString(*m.PayloadBase64)
	}
	return m.Payload, nil
}

// MessageList is one page of GET /v1/messages.
type MessageList struct {
	Messages []Message `json:"messages"`
	// NextCursor fetches the next page; absent on the last one.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Stats answers GET /v1/stats: the mirror's message counts, every status
// present.
type Stats struct {
	ByStatus map[Status]int64 `json:"by_status"`
	Total    int64            `json:"total"`
}

// EarlyCompletion is a complete held until the message is published.
type EarlyCompletion struct {
	Consumer string    `json:"consumer,omitempty"`
	At       time.Time `json:"at"`
}

// CheckRecord is one check-back and the producer's answer: COMMITTED,
// ROLLED_BACK or UNKNOWN.
type CheckRecord struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Answer  string    `json:"answer"`
	Detail  string    `json:"detail,omitempty"`
}

// PublishRecord is one send to Kafka, successful or not.
type PublishRecord struct {
	Attempt   int       `json:"attempt"`
	At        time.Time `json:"at"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Error     string    `json:"error,omitempty"`
}

// SignalRecord is one request the workflow received and what it did.
type SignalRecord struct {
	// Name is the request: confirm, cancel, complete or redrive.
	Name     string    `json:"name"`
	At       time.Time `json:"at"`
	Outcome  Outcome   `json:"outcome"`
	By       string    `json:"by,omitempty"`
	Consumer string    `json:"consumer,omitempty"`
	// Reason explains a request that was not applied.
	Reason string `json:"reason,omitempty"`
}
