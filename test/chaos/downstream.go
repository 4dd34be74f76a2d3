package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/courier-mq/courier/client/wire"

	"github.com/IBM/sarama"
)

// Completion is how the downstream consumer completes a message it received.
type Completion int

// The downstream completion behaviours.
const (
	// CompleteOnce completes every delivery at once (so a duplicate is
	// completed again, as the contract asks; Courier answers "repeated").
	CompleteOnce Completion = iota
	// CompleteTwice sends two completes for every delivery.
	CompleteTwice
	// CompleteLate completes each delivery after lateBy.
	CompleteLate
	// CompleteNever never completes: Courier resends, then parks it DEAD.
	CompleteNever
	// CompleteAfterRedrive completes only once Release was called for the
	// message: the test re-drives it from DEAD, then releases it.
	CompleteAfterRedrive
)

// lateBy is how long CompleteLate waits before completing.
const lateBy = 3 * time.Second

// Delivery is one record the downstream consumer received.
type Delivery struct {
	Key     string
	Value   string
	Headers map[string]string
	At      time.Time
	// Partition and Offset are where the broker said the record is: after
	// any crash, the same record must still be there.
	Partition int32
	Offset    int64
}

// Downstream is the consumer service: it reads every partition of the
// message topic through the broker's proxy, processes each message id once
// (its dedupe is a set of processed ids, standing in for a unique key in the
// consumer's database), counts the duplicates, and completes each delivery
// through the gateway as its Completion says.
type Downstream struct {
	gateway *Client

	mu         sync.Mutex
	completion map[string]Completion
	released   map[string]bool
	seen       map[string][]Delivery
	processed  map[string]time.Time // the exactly-once effect: first delivery only
	duplicates int
	completes  sync.WaitGroup
	ctx        context.Context
	failures   []error
	rejected   []string
}

// NewDownstream returns a consumer that completes through gateway.
func NewDownstream(ctx context.Context, gateway *Client) *Downstream {
	return &Downstream{
		gateway:    gateway,
		completion: map[string]Completion{},
		released:   map[string]bool{},
		seen:       map[string][]Delivery{},
		processed:  map[string]time.Time{},
		ctx:        ctx,
	}
}

// Expect sets how message id is completed. Ids never expected complete once.
func (d *Downstream) Expect(id string, c Completion) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.completion[id] = c
}

// Release lets a CompleteAfterRedrive message be completed from its next
// delivery on.
func (d *Downstream) Release(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.released[id] = true
}

// Consume reads every partition of topic from the oldest offset until ctx
// ends. Partition consumers ride out broker outages and restarts: sarama
// reconnects and resumes at the next offset.
func (d *Downstream) Consume(ctx context.Context, broker, topic string) error {
	cfg := sarama.NewConfig()
	cfg.ClientID = "chaos-downstream"
	cfg.Consumer.Return.Errors = false
	cfg.Consumer.Retry.Backoff = 250 * time.Millisecond
	cfg.Metadata.Retry.Max = 1000
	cfg.Metadata.Retry.Backoff = 250 * time.Millisecond
	consumer, err := sarama.NewConsumer([]string{broker}, cfg)
	if err != nil {
		return fmt.Errorf("downstream consumer on %s: %w", broker, err)
	}
	partitions, err := consumer.Partitions(topic)
	if err != nil {
		_ = consumer.Close()
		return fmt.Errorf("partitions of %s: %w", topic, err)
	}
	var wg sync.WaitGroup
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			_ = consumer.Close()
			return fmt.Errorf("consume %s/%d: %w", topic, p, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range pc.Messages() {
				d.receive(m)
			}
		}()
		context.AfterFunc(ctx, func() { _ = pc.Close() })
	}
	context.AfterFunc(ctx, func() {
		wg.Wait()
		_ = consumer.Close()
	})
	return nil
}

func (d *Downstream) receive(m *sarama.ConsumerMessage) {
	del := Delivery{Key: string(m.Key), Value: string(m.Value), Headers: map[string]string{}, At: time.Now(),
		Partition: m.Partition, Offset: m.Offset}
	for _, h := range m.Headers {
		del.Headers[string(h.Key)] = string(h.Value)
	}
	id := del.Headers[wire.HeaderMessageID]
	d.mu.Lock()
	d.seen[id] = append(d.seen[id], del)
	if _, done := d.processed[id]; done {
		d.duplicates++
	} else {
		d.processed[id] = del.At
	}
	c := d.completion[id]
	if c == CompleteAfterRedrive && d.released[id] {
		c = CompleteOnce
	}
	d.mu.Unlock()

	switch c {
	case CompleteOnce:
		d.complete(id, 0, 1)
	case CompleteTwice:
		d.complete(id, 0, 2)
	case CompleteLate:
		d.complete(id, lateBy, 1)
	}
}

// complete calls the gateway's complete route times times after wait, in
// the background, retrying through outages.
func (d *Downstream) complete(id string, wait time.Duration, times int) {
	d.completes.Add(1)
	go func() {
		defer d.completes.Done()
		if wait > 0 {
			select {
			case <-time.After(wait + time.Duration(rand.Int64N(int64(time.Second)))):
			case <-d.ctx.Done():
				return
			}
		}
		for range times {
			_, err := d.gateway.Signal(d.ctx, id, "complete")
			var rejected *RejectedError
			d.mu.Lock()
			switch {
			case errors.As(err, &rejected):
				// The consumer's contract ends at a 409: it does not retry.
				// Courier resends, and the next delivery completes it.
				d.rejected = append(d.rejected, fmt.Sprintf("%s: %s", id, rejected.Body))
			case err != nil && d.ctx.Err() == nil:
				d.failures = append(d.failures, fmt.Errorf("complete %s: %w", id, err))
			}
			d.mu.Unlock()
		}
	}()
}

// Seen returns the deliveries of message id so far.
func (d *Downstream) Seen(id string) []Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Delivery(nil), d.seen[id]...)
}

// SeenIDs returns every message id received, including ids the test never
// produced (which would be a bug).
func (d *Downstream) SeenIDs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := make([]string, 0, len(d.seen))
	for id := range d.seen {
		ids = append(ids, id)
	}
	return ids
}

// Stats are the deliveries received, the duplicates among them, and the
// messages processed (each exactly once).
func (d *Downstream) Stats() (deliveries, duplicates, processed int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.seen {
		deliveries += len(s)
	}
	return deliveries, d.duplicates, len(d.processed)
}

// Rejected are the completes the gateway answered with 409 conflict, with
// its answer: a consumer completes only what it received, so each one is a
// message whose state the gateway misread.
func (d *Downstream) Rejected() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.rejected...)
}

// Failures are the completes that failed for good other than with a 409.
func (d *Downstream) Failures() []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]error(nil), d.failures...)
}
