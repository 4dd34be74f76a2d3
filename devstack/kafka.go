package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
)

// KafkaConfig configures the embedded Kafka-protocol broker.
type KafkaConfig struct {
	// DataDir holds the broker's segments, topics and group offsets; records
	// written before a restart on the same DataDir are there after it.
	// Required.
	DataDir string
	// Host is the address the broker listens on and advertises to clients,
	// so it must be one they can dial. Default "127.0.0.1".
	Host string
	// Port is the broker's port. Default 9092.
	Port int
	// Partitions is the partition count of Topics and of topics created
	// automatically when a client first uses them. Default 3.
	Partitions int
	// Topics are created at start if missing. An existing topic keeps its
	// partition count.
	Topics []string
}

func (c *KafkaConfig) setDefaults() {
	if c.Host == "" {
		c.Host = loopback
	}
	if c.Port == 0 {
		c.Port = 9092
	}
	if c.Partitions == 0 {
		c.Partitions = 3
	}
}

// Validate reports the first invalid field of a defaulted KafkaConfig.
func (c KafkaConfig) Validate() error {
	if c.DataDir == "" {
		return errors.New("kafka: DataDir is required")
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("kafka: Port %d is not in 1-65535", c.Port)
	}
	if c.Partitions < 1 || c.Partitions > 10000 {
		return fmt.Errorf("kafka: Partitions %d is not in 1-10000", c.Partitions)
	}
	return nil
}

// Kafka is a running single-broker kfake cluster.
type Kafka struct {
	cluster *kfake.Cluster
}

// StartKafka starts a one-broker kfake cluster that persists to cfg.DataDir,
// syncing every produced batch to disk, and creates cfg.Topics. Clients may
// use any other topic name: it is created on first use.
func StartKafka(ctx context.Context, cfg KafkaConfig) (*Kafka, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start kafka: %w", err)
	}
	cluster, err := kfake.NewCluster(
		kfake.Ports(cfg.Port),
		// kfake binds 127.0.0.1; keep its port and use our host.
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			_, port, err := net.SplitHostPort(address)
			if err != nil {
				return nil, fmt.Errorf("parse kafka listen address %s: %w", address, err)
			}
			return net.Listen(network, net.JoinHostPort(cfg.Host, port))
		}),
		kfake.DataDir(cfg.DataDir),
		kfake.SyncWrites(),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(cfg.Partitions),
	)
	if err != nil {
		return nil, fmt.Errorf("start kafka on %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	// Created here rather than with kfake.SeedTopics, which only applies to an
	// empty DataDir: a topic added to the config later must appear too.
	for _, topic := range cfg.Topics {
		err := cluster.CreateTopic(topic, int32(cfg.Partitions), nil)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			cluster.Close()
			return nil, fmt.Errorf("create kafka topic %s: %w", topic, err)
		}
	}
	return &Kafka{cluster: cluster}, nil
}

// Addrs are the broker addresses for clients' seed brokers.
func (k *Kafka) Addrs() []string { return k.cluster.ListenAddrs() }

// Close stops the broker and writes its state to DataDir. It has no error to
// report; it returns one to satisfy io.Closer.
func (k *Kafka) Close() error {
	k.cluster.Close()
	return nil
}
