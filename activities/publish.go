package activities

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/temporal"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/tracing"
)

// Publish writes one send of a message to Kafka and reports where it landed.
// The record carries the message's key (an empty key is a null key, spread
// over the partitions), its payload, its headers and Courier's
// wire.HeaderMessageID, wire.HeaderAttempt and (for a message with a
// producer name) wire.HeaderProducer, which replace any user header of the
// same name compared case-insensitively, so no consumer can mistake one for
// Courier's.
//
// A refusal that no retry can change (see permanentKafkaError) is a
// non-retryable application error of type ErrTypePublishRejected; every other
// failure (broker down, leader moving, unknown topic, timeout) is returned
// wrapped for the workflow's retry policy.
//
// The send is a producer span ("send <topic>", a child of in.Trace, with
// OpenTelemetry's messaging attributes: partition, offset, message id and
// Courier's attempt), and the record carries it in traceparent (replacing a
// user header of that name), so the consumer continues the message's trace.
func (a *Activities) Publish(ctx context.Context, in PublishInput) (PublishResult, error) {
	ctx, span := tracing.Tracer().Start(in.Trace.Context(ctx), "send "+in.Topic, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(semconv.MessagingSystemKafka, semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("send"),
			semconv.MessagingDestinationName(in.Topic), semconv.MessagingMessageID(in.MessageID), attribute.Int("courier.send.attempt", in.Attempt)))
	if in.Key != "" {
		span.SetAttributes(semconv.MessagingKafkaMessageKey(in.Key))
	}
	res, err := a.publish(ctx, in)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	} else {
		span.SetAttributes(semconv.MessagingDestinationPartitionID(strconv.Itoa(int(res.Partition))), semconv.MessagingKafkaOffset(int(res.Offset)))
	}
	span.End()
	return res, err
}

func (a *Activities) publish(ctx context.Context, in PublishInput) (PublishResult, error) {
	if err := ctx.Err(); err != nil {
		return PublishResult{}, fmt.Errorf("publish %s to %s: %w", in.MessageID, in.Topic, err)
	}
	type sent struct {
		partition int32
		offset    int64
		err       error
	}
	done := make(chan sent, 1)
	msg := producerMessage(in)
	msg.Headers = injectTrace(ctx, msg.Headers)
	go func() {
		partition, offset, err := a.Producer.SendMessage(msg)
		done <- sent{partition, offset, err}
	}()
	select {
	case s := <-done:
		if s.err != nil {
			return PublishResult{}, publishError(in, s.err)
		}
		return PublishResult{Partition: s.partition, Offset: s.offset}, nil
	case <-ctx.Done():
		// sarama cannot withdraw a message it has taken: the send finishes in
		// the background and may still land. The retry then writes a duplicate,
		// which consumers drop by wire.HeaderMessageID.
		return PublishResult{}, fmt.Errorf("publish %s to %s: %w", in.MessageID, in.Topic, ctx.Err())
	}
}

// producerMessage builds the Kafka record of one send. User headers go out
// sorted by name, so every send of a message lists them in the same order.
func producerMessage(in PublishInput) *sarama.ProducerMessage {
	names := make([]string, 0, len(in.Headers))
	for name := range in.Headers {
		if strings.EqualFold(name, wire.HeaderMessageID) || strings.EqualFold(name, wire.HeaderAttempt) || strings.EqualFold(name, wire.HeaderProducer) {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	headers := make([]sarama.RecordHeader, 0, len(names)+3)
	for _, name := range names {
		headers = append(headers, sarama.RecordHeader{Key: []byte(name), Value: []byte(in.Headers[name])})
	}
	headers = append(headers,
		sarama.RecordHeader{Key: []byte(wire.HeaderMessageID), Value: []byte(in.MessageID)},
		sarama.RecordHeader{Key: []byte(wire.HeaderAttempt), Value: []byte(strconv.Itoa(in.Attempt))},
	)
	if in.Producer != "" {
		headers = append(headers, sarama.RecordHeader{Key: []byte(wire.HeaderProducer), Value: []byte(in.Producer)})
	}
	msg := &sarama.ProducerMessage{
		Topic:   in.Topic,
		Value:   sarama.ByteEncoder(in.Payload),
		Headers: headers,
	}
	if in.Key != "" {
		msg.Key = sarama.StringEncoder(in.Key)
	}
	return msg
}

// injectTrace puts ctx's trace context into a record's headers, replacing
// any of the same names.
func injectTrace(ctx context.Context, headers []sarama.RecordHeader) []sarama.RecordHeader {
	carrier := propagation.MapCarrier{}
	tracing.Propagator.Inject(ctx, carrier)
	if len(carrier) == 0 {
		return headers
	}
	headers = slices.DeleteFunc(headers, func(h sarama.RecordHeader) bool {
		_, ok := carrier[strings.ToLower(string(h.Key))]
		return ok
	})
	for _, name := range slices.Sorted(maps.Keys(carrier)) {
		headers = append(headers, sarama.RecordHeader{Key: []byte(name), Value: []byte(carrier[name])})
	}
	return headers
}

// publishError decides whether a failed send is worth retrying.
func publishError(in PublishInput, err error) error {
	wrapped := fmt.Errorf("publish %s to %s: %w", in.MessageID, in.Topic, err)
	if permanentKafkaError(err) {
		return temporal.NewNonRetryableApplicationError(wrapped.Error(), ErrTypePublishRejected, err)
	}
	return wrapped
}

// permanentKafkaError reports whether Kafka refused the record itself, so that
// sending the same record again must fail the same way:
//
//   - the producer's own check that the record fits Producer.MaxMessageBytes
//     (a sarama.ConfigurationError, returned before anything is sent);
//   - MESSAGE_TOO_LARGE and RECORD_LIST_TOO_LARGE: over the topic's
//     max.message.bytes;
//   - INVALID_TOPIC_EXCEPTION: a name Kafka does not allow;
//   - TOPIC_ and CLUSTER_AUTHORIZATION_FAILED: Courier may not write there;
//   - INVALID_RECORD, CORRUPT_MESSAGE, INVALID_TIMESTAMP and
//     UNSUPPORTED_FOR_MESSAGE_FORMAT: the broker's validation refused the
//     record (e.g. a null key on a compacted topic, a timestamp outside
//     message.timestamp.difference.max.ms). The producer has already resent a
//     CORRUPT_MESSAGE batch Producer.Retry.Max times, so a checksum damaged in
//     transit is not mistaken for a bad record.
//
// Everything else, unknown topics included (the topic may yet be created), is
// transient.
func permanentKafkaError(err error) bool {
	var cfgErr sarama.ConfigurationError
	if errors.As(err, &cfgErr) {
		return true
	}
	var kerr sarama.KError
	if !errors.As(err, &kerr) {
		return false
	}
	switch kerr {
	case sarama.ErrMessageSizeTooLarge, sarama.ErrMessageSetSizeTooLarge,
		sarama.ErrInvalidTopic,
		sarama.ErrTopicAuthorizationFailed, sarama.ErrClusterAuthorizationFailed,
		sarama.ErrInvalidRecord, sarama.ErrInvalidMessage, sarama.ErrInvalidTimestamp,
		sarama.ErrUnsupportedForMessageFormat:
		return true
	}
	return false
}
