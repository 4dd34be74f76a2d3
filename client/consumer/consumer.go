// Package consumer is the downstream half of Courier's reliable-message
// pattern: Run reads a topic through a Kafka consumer group (sarama) and
// gives each Courier message to a handler exactly once per consumer, in a
// transaction of the consumer's own database, then tells Courier the message
// is complete.
//
// Per record, in one transaction: insert a dedupe row (consumer, message
// id); when it exists already the message was processed before (Courier
// re-sends until it hears complete) and the handler is skipped; else the
// handler runs with the transaction; commit. Then Complete, retried by the
// client; if it still fails, Courier re-sends the message on its schedule,
// the dedupe row skips the handler and the complete is tried again.
//
// Records of a partition are handled in order, one at a time. A handler
// that keeps failing does not hold its partition: after Config.Attempts
// tries the record is passed over without completing, Courier re-sends it on
// its resend schedule, and a message never completed becomes DEAD in
// Courier, visible and re-drivable once the cause is fixed. Records without
// a courier-message-id header are not Courier's and are passed over.
//
// Offsets are committed for records handled or passed over, also on a
// graceful stop (cancel the context given to Run).
//
// The dedupe table's keys compare byte for byte on every database, and a
// duplicate is recognised by the database's duplicate-key error, whatever
// the connection's flags. Run deletes dedupe rows older than
// Config.Retention (default a week) while it runs.
package consumer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/dialect"
	"github.com/courier-mq/courier/client/internal/tracecontext"
	"github.com/courier-mq/courier/client/wire"
)

// Completer is what the consumer calls of Courier's API; *client.Client is
// one.
type Completer interface {
	Complete(ctx context.Context, id, consumer string) (wire.SignalResponse, error)
}

// Config shapes a Consumer.
type Config struct {
	// Brokers are the Kafka bootstrap brokers.
	Brokers []string
	// Topics are read.
	Topics []string
	// Name is the consumer group and the consumer's name in its completes
	// (a message naming its consumers must name this one). With API keys it
	// must be the consumer key's name: Courier refuses a complete in
	// another's name.
	Name string
	// Courier receives the completes. Required.
	Courier Completer
	// DB holds the dedupe table and the handler's own tables. Required.
	DB *sql.DB
	// Dialect is DB's SQL; empty detects it from the driver.
	Dialect dialect.Dialect
	// Table is the dedupe table's name. Default DefaultTable.
	Table string
	// Attempts is how many times a failing handler is tried for one
	// delivery before the record is passed over. Default 3.
	Attempts int
	// Sarama tunes the consumer group; nil is a default config reading new
	// groups from the oldest offset, with a session timeout of 10 s and a
	// rebalance timeout of 20 s, under the read timeout (30 s): a JoinGroup
	// waits up to the rebalance timeout for members that crashed, and one
	// that timed out on the client side was in vain. Keep that relation in a
	// config of your own, and the session timeout within the brokers'
	// group.min/max.session.timeout.ms.
	Sarama *sarama.Config
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Retention is how long dedupe rows are kept; Run deletes older ones
	// once per CleanupEvery while it runs. A row deleted while Courier may
	// still resend its message lets the resend run the handler again, so
	// New refuses a retention under RetentionFloor. Default
	// DefaultRetention; negative turns the cleanup off (then call Cleanup
	// yourself).
	Retention time.Duration
	// CleanupEvery is the time between two cleanups. Default an hour.
	CleanupEvery time.Duration
}

// DefaultTable is the dedupe table's default name.
const DefaultTable = "courier_dedupe"

// DefaultRetention is how long dedupe rows are kept by default: well past
// the default resend schedule (the last resend about two hours after the
// first send) and a consumer's lag behind it.
const DefaultRetention = 7 * 24 * time.Hour

// RetentionFloor is the shortest retention Cleanup and New accept: the
// default resend schedule (wire.DefaultTiming().ResendSpan(), 1 h 53 min)
// plus a day for a consumer that lags behind its topic. A message whose own
// resend intervals add up to more needs a longer retention; so does a
// re-drive of a DEAD message after it (its handler would run again).
func RetentionFloor() time.Duration { return wire.DefaultTiming().ResendSpan() + 24*time.Hour }

// maxKeyLen is the longest id or consumer name the dedupe table holds.
const maxKeyLen = 128

// Message is one Courier message as the handler gets it.
type Message struct {
	ID        string
	Topic     string
	Key       []byte
	Payload   []byte
	Headers   map[string]string
	Attempt   int
	Partition int32
	Offset    int64
}

// Handler processes one message in tx. An error rolls tx back; see the
// package doc for what follows.
type Handler func(ctx context.Context, tx *sql.Tx, msg Message) error

// Consumer reads Courier messages.
type Consumer struct {
	cfg Config
}

// New returns a Consumer for cfg. Create its table with Migrate.
func New(cfg Config) (*Consumer, error) {
	var errs []error
	if len(cfg.Brokers) == 0 || len(cfg.Topics) == 0 || cfg.Name == "" {
		errs = append(errs, errors.New("consumer: brokers, topics and a name are required"))
	}
	if cfg.Courier == nil || cfg.DB == nil {
		errs = append(errs, errors.New("consumer: Courier and a database are required"))
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if err := dialect.CheckTable(cfg.Table); err != nil {
		errs = append(errs, fmt.Errorf("consumer: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	d, err := dialect.Resolve(cfg.Dialect, cfg.DB)
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	cfg.Dialect = d
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.Sarama == nil {
		cfg.Sarama = sarama.NewConfig()
		cfg.Sarama.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Sarama.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}
		// A JoinGroup is answered when the rebalance ends, which waits up
		// to the rebalance timeout for members that died without leaving
		// (a crash). sarama's default of 60 s outlasts its 30 s read
		// timeout, so after a crash every join timed out, left a member
		// the next rebalance waited for, and the group never formed. The
		// read timeout is set from it, so that the two stay apart.
		cfg.Sarama.Consumer.Group.Rebalance.Timeout = 20 * time.Second
		cfg.Sarama.Net.ReadTimeout = cfg.Sarama.Consumer.Group.Rebalance.Timeout + 10*time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Retention > 0 && cfg.Retention < RetentionFloor() {
		return nil, fmt.Errorf("consumer: Retention %s is under %s: a dedupe row deleted while its message may come again lets the handler run twice", cfg.Retention, RetentionFloor())
	}
	if cfg.CleanupEvery <= 0 {
		cfg.CleanupEvery = time.Hour
	}
	return &Consumer{cfg: cfg}, nil
}

// Migrate creates the dedupe table unless it exists, and makes the keys of
// a MySQL table made by an earlier version compare exactly (they ignored
// case, so "ORDER-7" was taken for "order-7" and skipped).
func (c *Consumer) Migrate(ctx context.Context) error {
	t, d := c.cfg.Table, c.cfg.Dialect
	key := d.KeyType(maxKeyLen)
	ddl := "CREATE TABLE IF NOT EXISTS " + t + ` (
	consumer ` + key + ` NOT NULL,
	message_id ` + key + ` NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (consumer, message_id)
)`
	for _, stmt := range []string{ddl, d.CreateIndex(t+"_created", t, "created_at")} {
		if stmt == "" {
			continue
		}
		if _, err := c.cfg.DB.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("consumer: create dedupe table %s: %w", t, err)
		}
	}
	if err := d.ExactKeys(ctx, c.cfg.DB, t, maxKeyLen, "consumer", "message_id"); err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	return nil
}

// Run consumes until ctx ends, then commits the offsets of what it handled
// and returns nil; or returns the error that stopped it.
func (c *Consumer) Run(ctx context.Context, handler Handler) error {
	group, err := sarama.NewConsumerGroup(c.cfg.Brokers, c.cfg.Name, c.cfg.Sarama)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", c.cfg.Name, err)
	}
	defer func() { _ = group.Close() }()
	go c.cleanupEvery(ctx)
	go func() {
		for err := range group.Errors() {
			c.cfg.Logger.Warn("courier consumer: kafka", "consumer", c.cfg.Name, "error", err)
		}
	}()
	h := &groupHandler{c: c, handler: handler}
	backoff := minRejoinBackoff
	for ctx.Err() == nil {
		err := group.Consume(ctx, c.cfg.Topics, h)
		if err == nil {
			backoff = minRejoinBackoff // a session ended by a rebalance: join it at once
			continue
		}
		if errors.Is(err, sarama.ErrClosedConsumerGroup) || ctx.Err() != nil {
			break
		}
		// Members that failed together (their coordinator was away, or a
		// rebalance waited on a crashed member) must not come back in
		// step: each waits a random part of a backoff that doubles while
		// joins fail.
		wait := backoff/2 + rand.N(backoff/2)
		backoff = min(2*backoff, maxRejoinBackoff)
		c.cfg.Logger.Warn("courier consumer: session ended", "consumer", c.cfg.Name, "error", err, "rejoin_in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return nil
}

// The wait of Run before it joins its group again after a failed session
// grows from minRejoinBackoff to maxRejoinBackoff, which stays well under
// the default rebalance timeout, so that a member back from a broken
// connection is in time for a rebalance that is still waiting for it.
const (
	minRejoinBackoff = time.Second
	maxRejoinBackoff = 8 * time.Second
)

// groupHandler is the sarama side of Run.
type groupHandler struct {
	c       *Consumer
	handler Handler
}

func (h *groupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim handles a partition's records in order.
func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case <-sess.Context().Done():
			return nil
		case rec, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			if h.c.handle(sess.Context(), rec, h.handler) {
				sess.MarkMessage(rec, "")
			}
		}
	}
}

// handle processes one record as the package doc says. done is false when
// the consumer is stopping before the record was dealt with: its offset is
// not committed, and the next session reads it again.
func (c *Consumer) handle(ctx context.Context, rec *sarama.ConsumerMessage, handler Handler) (done bool) {
	msg := Message{Topic: rec.Topic, Key: rec.Key, Payload: rec.Value, Headers: map[string]string{}, Partition: rec.Partition, Offset: rec.Offset}
	for _, h := range rec.Headers {
		msg.Headers[string(h.Key)] = string(h.Value)
	}
	msg.ID = msg.Headers[wire.HeaderMessageID]
	msg.Attempt, _ = strconv.Atoi(msg.Headers[wire.HeaderAttempt])
	log := c.cfg.Logger.With("consumer", c.cfg.Name, "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "id", msg.ID)
	if msg.ID == "" {
		log.Warn("courier consumer: record without " + wire.HeaderMessageID + " passed over")
		return true
	}
	ctx, span := c.span(ctx, msg)
	defer span.End()
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return false
		}
		err := c.process(ctx, msg, handler)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		log.Warn("courier consumer: handler failed", "attempt", attempt, "error", err)
		span.AddEvent("handler failed", trace.WithAttributes(attribute.Int("attempt", attempt), attribute.String("error", err.Error())))
		if attempt == c.cfg.Attempts {
			span.SetStatus(codes.Error, err.Error())
			log.Error("courier consumer: message passed over without completing; Courier sends it again on its schedule", "error", err)
			return true
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
	_, err := c.cfg.Courier.Complete(context.WithoutCancel(ctx), msg.ID, c.cfg.Name)
	switch {
	case err == nil:
	case errors.Is(err, client.ErrConflict), errors.Is(err, client.ErrForbidden), errors.Is(err, client.ErrUnauthorized):
		// No resend changes these: the message's state, or the key.
		log.Error("courier consumer: complete refused", "error", err)
	default:
		log.Warn("courier consumer: complete failed; the next resend completes it", "error", err)
	}
	return true
}

// span continues the trace the record carries (traceparent, which Courier
// sets from the message's trace) in a consumer span, "process <topic>", that
// the handler and the complete run in.
func (c *Consumer) span(ctx context.Context, msg Message) (context.Context, trace.Span) {
	ctx = tracecontext.Propagator.Extract(ctx, propagation.MapCarrier(msg.Headers))
	return tracecontext.Tracer().Start(ctx, "process "+msg.Topic, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.destination.name", msg.Topic),
		attribute.String("messaging.destination.partition.id", strconv.Itoa(int(msg.Partition))),
		attribute.Int64("messaging.kafka.offset", msg.Offset),
		attribute.String("messaging.message.id", msg.ID),
		attribute.String("messaging.consumer.group.name", c.cfg.Name),
		attribute.Int("courier.send.attempt", msg.Attempt),
	))
}

// process runs handler for msg in a transaction with its dedupe row. The
// row is a plain insert: when it fails on the key the message was processed
// before (the insert waited for a transaction in flight that wrote it), and
// only the complete is missing. A duplicate is known from the error, not
// from a count of affected rows, which connection flags such as MySQL's
// clientFoundRows change.
func (c *Consumer) process(ctx context.Context, msg Message, handler Handler) error {
	tx, err := c.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	d := c.cfg.Dialect
	insert := "INSERT INTO " + c.cfg.Table + " (consumer, message_id, created_at) VALUES (" + d.Params(3) + ")"
	if _, err := tx.ExecContext(ctx, insert, c.cfg.Name, msg.ID, time.Now().UnixMilli()); err != nil {
		if d.Duplicate(err) {
			return nil
		}
		return fmt.Errorf("dedupe row: %w", err)
	}
	if err := handler(ctx, tx, msg); err != nil {
		return err
	}
	return tx.Commit()
}

// Cleanup deletes dedupe rows older than retention, which must outlast the
// resend schedule of Courier's messages (a deleted row lets a late resend
// run the handler again): it refuses one under RetentionFloor. Run calls it
// by itself (Config.Retention); call it directly only with that off.
func (c *Consumer) Cleanup(ctx context.Context, retention time.Duration) (int64, error) {
	if floor := RetentionFloor(); retention < floor {
		return 0, fmt.Errorf("consumer: retention %s is under %s; it must outlast every resend schedule", retention, floor)
	}
	res, err := c.cfg.DB.ExecContext(ctx, "DELETE FROM "+c.cfg.Table+" WHERE created_at < "+c.cfg.Dialect.Params(1), time.Now().Add(-retention).UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("consumer: clean up dedupe table: %w", err)
	}
	return res.RowsAffected()
}

// cleanupEvery runs Cleanup with the configured retention now and once per
// Config.CleanupEvery until ctx ends. Every member of a group cleans the
// same table; the deletes overlap harmlessly.
func (c *Consumer) cleanupEvery(ctx context.Context) {
	if c.cfg.Retention < 0 {
		return
	}
	for {
		if n, err := c.Cleanup(ctx, c.cfg.Retention); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("courier consumer: dedupe table cleanup failed; it is tried again later", "consumer", c.cfg.Name, "error", err)
		} else if n > 0 {
			c.cfg.Logger.Debug("courier consumer: dedupe rows past the retention deleted", "consumer", c.cfg.Name, "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.cfg.CleanupEvery):
		}
	}
}
