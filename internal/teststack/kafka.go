package teststack

import (
	"sync"
	"testing"
	"time"

	"github.com/courier-mq/courier/client/wire"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
)

// KafkaLog keeps every record published to the Stack's topics, by the Courier
// message id in its header.
type KafkaLog struct {
	mu   sync.Mutex
	byID map[string][]Record
}

// Record is one Kafka record as a consumer saw it.
type Record struct {
	Topic     string
	Key       string
	Value     string
	Headers   map[string]string
	Partition int32
	// Seen is when the consumer received it.
	Seen time.Time
}

// consume starts a sarama consumer on every partition of topics, from the
// oldest offset, stopped when t ends.
func consume(t *testing.T, brokers, topics []string) *KafkaLog {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Consumer.Return.Errors = false
	consumer, err := sarama.NewConsumer(brokers, cfg)
	require.NoError(t, err)
	l := &KafkaLog{byID: map[string][]Record{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = consumer.Close()
		wg.Wait()
	})
	for _, topic := range topics {
		partitions, err := consumer.Partitions(topic)
		require.NoError(t, err)
		for _, p := range partitions {
			pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
			require.NoError(t, err)
			t.Cleanup(func() { _ = pc.Close() })
			wg.Add(1)
			go func() {
				defer wg.Done()
				for m := range pc.Messages() {
					l.add(m)
				}
			}()
		}
	}
	return l
}

func (l *KafkaLog) add(m *sarama.ConsumerMessage) {
	rec := Record{
		Topic:     m.Topic,
		Key:       string(m.Key),
		Value:     string(m.Value),
		Headers:   map[string]string{},
		Partition: m.Partition,
		Seen:      time.Now(),
	}
	for _, h := range m.Headers {
		rec.Headers[string(h.Key)] = string(h.Value)
	}
	id := rec.Headers[wire.HeaderMessageID]
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byID[id] = append(l.byID[id], rec)
}

// Records returns the records of message id received so far, in the order
// they arrived.
func (l *KafkaLog) Records(id string) []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Record(nil), l.byID[id]...)
}

// Wait returns the first n records of message id once they have arrived,
// failing t if they do not within 30 s.
func (l *KafkaLog) Wait(t testing.TB, id string, n int) []Record {
	t.Helper()
	require.Eventually(t, func() bool { return len(l.Records(id)) >= n }, 30*time.Second, 20*time.Millisecond,
		"message %s: want %d records in Kafka", id, n)
	return l.Records(id)[:n]
}
