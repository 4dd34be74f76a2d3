package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/courier-mq/courier/client/wire"

	"github.com/IBM/sarama"
)

// joinTimeout bounds the wait for the consumer group's first assignment.
const joinTimeout = time.Minute

// consumer is the downstream service: a sarama consumer group on the run's
// topic that hands every record's Courier message id to a callback.
type consumer struct {
	group  sarama.ConsumerGroup
	cancel context.CancelFunc
	done   chan struct{}
}

// startConsumer creates topic if missing, joins group on it from the oldest
// offset, and returns once partitions are assigned, so that no record waits
// for the join.
func startConsumer(ctx context.Context, cfg Config, topic, group string, received func(id string, produced, at time.Time)) (*consumer, error) {
	sc := sarama.NewConfig()
	sc.ClientID = "courier-bench"
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Return.Errors = false
	sc.Consumer.MaxWaitTime = 100 * time.Millisecond
	if err := createTopic(cfg.Brokers, sc, topic, cfg.Partitions); err != nil {
		return nil, err
	}
	g, err := sarama.NewConsumerGroup(cfg.Brokers, group, sc)
	if err != nil {
		return nil, fmt.Errorf("join consumer group %s: %w", group, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &consumer{group: g, cancel: cancel, done: make(chan struct{})}
	h := &groupHandler{ready: make(chan struct{}), received: received}
	go func() {
		defer close(c.done)
		for ctx.Err() == nil {
			// Consume returns at every rebalance; join again until stopped.
			if err := g.Consume(ctx, []string{topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}()
	select {
	case <-h.ready:
		return c, nil
	case <-ctx.Done():
		c.close()
		return nil, fmt.Errorf("consumer group %s on %s: %w", group, topic, ctx.Err())
	case <-time.After(joinTimeout):
		c.close()
		return nil, fmt.Errorf("consumer group %s got no partitions of %s within %s", group, topic, joinTimeout)
	}
}

func (c *consumer) close() {
	c.cancel()
	_ = c.group.Close()
	<-c.done
}

// createTopic creates topic with the given partitions; an existing topic is
// left as it is.
func createTopic(brokers []string, sc *sarama.Config, topic string, partitions int) error {
	admin, err := sarama.NewClusterAdmin(brokers, sc)
	if err != nil {
		return fmt.Errorf("kafka admin on %v: %w", brokers, err)
	}
	defer admin.Close()
	err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: int32(partitions), ReplicationFactor: 1}, false)
	var te *sarama.TopicError
	if errors.As(err, &te) && te.Err == sarama.ErrTopicAlreadyExists {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// groupHandler passes records on, with the record's timestamp (set by the
// producer, Courier's publish) and the time of receipt, and marks them
// consumed.
type groupHandler struct {
	once     sync.Once
	ready    chan struct{}
	received func(id string, produced, at time.Time)
}

func (h *groupHandler) Setup(sarama.ConsumerGroupSession) error {
	h.once.Do(func() { close(h.ready) })
	return nil
}

func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		at := time.Now()
		for _, hd := range m.Headers {
			if string(hd.Key) == wire.HeaderMessageID {
				h.received(string(hd.Value), m.Timestamp, at)
				break
			}
		}
		sess.MarkMessage(m, "")
	}
	return nil
}
