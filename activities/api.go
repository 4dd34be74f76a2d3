package activities

import (
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/tracing"
)

// ErrTypePublishRejected is the application error type of a publish that Kafka
// refused for good (message too large, invalid topic, not authorized). Retrying
// cannot help; the workflow moves the message to DEAD with the reason.
const ErrTypePublishRejected = "PublishRejected"

// PublishInput is one send of a message to Kafka.
type PublishInput struct {
	MessageID string            `json:"message_id"`
	Topic     string            `json:"topic"`
	Key       string            `json:"key,omitempty"`
	Payload   []byte            `json:"payload"`
	Headers   map[string]string `json:"headers,omitempty"`
	// Producer goes out in wire.HeaderProducer when it is not empty.
	Producer string `json:"producer,omitempty"`
	// Attempt is the message's send count including this send: 1 for the first
	// publish, 2 for the first resend, and so on. It goes out in wire.HeaderAttempt.
	Attempt int `json:"attempt"`
	// Trace is the trace context the publish continues: its producer span
	// is a child of it, and the record carries the span in traceparent.
	Trace tracing.Carrier `json:"trace,omitempty"`
}

// PublishResult is where Kafka stored the record.
type PublishResult struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

// CheckInput is one check-back call to the producer.
type CheckInput struct {
	MessageID string `json:"message_id"`
	Topic     string `json:"topic"`
	Key       string `json:"key,omitempty"`
	Producer  string `json:"producer,omitempty"`
	URL       string `json:"url"`
	// Attempt counts the check-backs for this message, starting at 1.
	Attempt int `json:"attempt"`
	// Trace is the trace context the check-back continues: its client span
	// is a child of it, and the request carries the span in traceparent.
	Trace tracing.Carrier `json:"trace,omitempty"`
}

// CheckResult is what a check-back learned. Detail explains an UNKNOWN (HTTP
// status, timeout, malformed body) so operators can see why it keeps asking.
type CheckResult struct {
	Answer models.CheckAnswer `json:"answer"`
	Detail string             `json:"detail,omitempty"`
}

// MirrorInput is one write to the messages table. Create is set on the first
// write of a message only; Transition is always applied, guarded by its revision.
type MirrorInput struct {
	Create     *models.Message   `json:"create,omitempty"`
	Transition models.Transition `json:"transition"`
}
