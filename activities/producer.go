package activities

import (
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// DefaultClientID is the Kafka client id when ProducerConfig.ClientID is empty.
const DefaultClientID = "courier"

// DefaultMaxMessageBytes is Kafka's own default message.max.bytes (1 MiB plus
// 12 bytes of batch overhead), the producer's limit when
// ProducerConfig.MaxMessageBytes is zero.
const DefaultMaxMessageBytes = 1024*1024 + 12

// ProducerConfig is how Courier reaches Kafka.
type ProducerConfig struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string
	// ClientID names Courier in broker logs and quotas; DefaultClientID if empty.
	ClientID string
	// Version is the oldest Kafka version the cluster runs, e.g. "2.8.0"; the
	// producer speaks that protocol. Empty means sarama.DefaultVersion (2.8.0).
	// The idempotent producer needs at least 0.11.0.
	Version string
	// MaxMessageBytes bounds one record and one batch of records for one
	// partition. It must not exceed the topics' max.message.bytes: the producer
	// batches concurrent sends to the same partition up to this size, and a
	// batch the broker refuses as too large rejects every message in it for good.
	// Zero means DefaultMaxMessageBytes.
	MaxMessageBytes int
}

// ProducerSaramaConfig is the sarama configuration NewProducer uses: an
// idempotent producer (acks from all in-sync replicas, one request in flight
// per broker, so a retried batch can neither duplicate nor reorder records)
// that partitions by key with murmur2.
//
// The murmur2 partitioner is the one the Java client's default partitioner,
// librdkafka's murmur2_random and franz-go use, so a key lands on the same
// partition whether Courier or any of those clients produced it; sarama's
// default FNV-1a hash would disagree with them.
func ProducerSaramaConfig(cfg ProducerConfig) (*sarama.Config, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka producer: no brokers configured")
	}
	sc := sarama.NewConfig()
	sc.ClientID = DefaultClientID
	if cfg.ClientID != "" {
		sc.ClientID = cfg.ClientID
	}
	if cfg.Version != "" {
		v, err := sarama.ParseKafkaVersion(cfg.Version)
		if err != nil {
			return nil, fmt.Errorf("kafka producer: version %q: %w", cfg.Version, err)
		}
		sc.Version = v
	}
	sc.Producer.MaxMessageBytes = DefaultMaxMessageBytes
	if cfg.MaxMessageBytes != 0 {
		sc.Producer.MaxMessageBytes = cfg.MaxMessageBytes
	}

	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Net.MaxOpenRequests = 1
	// A few quick retries ride out a leader election inside one attempt;
	// longer outages fall to the workflow's retry policy, which never gives up.
	sc.Producer.Retry.Max = 5
	sc.Producer.Retry.Backoff = 200 * time.Millisecond
	sc.Producer.Partitioner = sarama.NewMurmur2Partitioner
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true

	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return sc, nil
}

// NewProducer connects an idempotent, key-partitioning producer to Kafka (see
// ProducerSaramaConfig). The caller closes it.
func NewProducer(cfg ProducerConfig) (sarama.SyncProducer, error) {
	sc, err := ProducerSaramaConfig(cfg)
	if err != nil {
		return nil, err
	}
	p, err := sarama.NewSyncProducer(cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka producer for %v: %w", cfg.Brokers, err)
	}
	return p, nil
}
