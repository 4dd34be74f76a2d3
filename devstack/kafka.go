package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
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
	// Logger reports repairs of the data directory at start, and dead
	// members removed from consumer groups. Default: none.
	Logger *slog.Logger
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
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
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
	cluster    *kfake.Cluster
	partitions int32
	stopReaper func()
	// created holds the topics known to exist, so that a metadata request
	// for them costs no admin round trip.
	created sync.Map
}

// StartKafka starts a one-broker kfake cluster that persists to cfg.DataDir,
// syncing every produced batch to disk, and creates cfg.Topics. Clients may
// use any other topic name: it is created on first use, durably, so that a
// record the broker acknowledged survives a kill -9 of the process at the
// offset it was given. Members of consumer groups that crash, at any step of
// a rebalance, are removed as Kafka removes them (see groupReaper), so that
// the live members take their partitions over.
func StartKafka(ctx context.Context, cfg KafkaConfig) (*Kafka, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start kafka: %w", err)
	}
	if err := setAsideForgottenPartitions(cfg.DataDir, cfg.Logger); err != nil {
		return nil, err
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
	k := &Kafka{cluster: cluster, partitions: int32(cfg.Partitions)}
	// Created here rather than with kfake.SeedTopics, which only applies to an
	// empty DataDir: a topic added to the config later must appear too.
	for _, topic := range cfg.Topics {
		if err := k.createTopic(topic); err != nil {
			cluster.Close()
			return nil, err
		}
	}
	cluster.ControlKey(int16(kmsg.Metadata), k.createRequestedTopics)
	cluster.ControlKey(int16(kmsg.DeleteTopics), k.forgetDeletedTopics)
	reapCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	wait, err := startGroupReaper(reapCtx, cluster, cfg.Logger)
	if err != nil {
		stop()
		cluster.Close()
		return nil, err
	}
	k.stopReaper = func() { stop(); wait() }
	return k, nil
}

// createRequestedTopics is the broker's hook on every metadata request. A
// client that may create topics (sarama's producer does, by default) asks
// for a topic's metadata before it produces to it; kfake would then create
// the topic in memory only and write it to topics.json at a clean Close, so
// that after a crash it forgot the topic, and re-created it over the old
// segment files at offset 0. Here such a topic is created as an admin
// request does it, which writes topics.json at once; the request then goes
// on to kfake, which finds the topic there.
func (k *Kafka) createRequestedTopics(req kmsg.Request) (kmsg.Response, error, bool) {
	meta, ok := req.(*kmsg.MetadataRequest)
	if !ok || !meta.AllowAutoTopicCreation {
		return nil, nil, false
	}
	var missing []string
	for _, rt := range meta.Topics {
		if rt.Topic == nil {
			continue // asked for by topic ID: it exists, or cannot be created
		}
		if _, known := k.created.Load(*rt.Topic); !known {
			missing = append(missing, *rt.Topic)
		}
	}
	if len(missing) == 0 {
		return nil, nil, false
	}
	// The cluster runs admin requests only between client requests, and this
	// hook runs inside one: sleeping the hook lets it run them.
	k.cluster.SleepControl(func() {
		for _, topic := range missing {
			// The only error is a name Kafka refuses, which kfake then
			// answers in the request itself.
			_ = k.createTopic(topic)
		}
	})
	return nil, nil, false
}

// forgetDeletedTopics is the broker's hook on every delete-topics request:
// a deleted topic must be created durably again on its next use.
func (k *Kafka) forgetDeletedTopics(req kmsg.Request) (kmsg.Response, error, bool) {
	if del, ok := req.(*kmsg.DeleteTopicsRequest); ok {
		for _, topic := range del.TopicNames {
			k.created.Delete(topic)
		}
		for _, rt := range del.Topics {
			if rt.Topic != nil {
				k.created.Delete(*rt.Topic)
			}
		}
	}
	return nil, nil, false
}

// createTopic creates topic with the broker's partition count unless it
// exists, and remembers that it does.
func (k *Kafka) createTopic(topic string) error {
	err := k.cluster.CreateTopic(topic, k.partitions, nil)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create kafka topic %s: %w", topic, err)
	}
	k.created.Store(topic, struct{}{})
	return nil
}

// Addrs are the broker addresses for clients' seed brokers.
func (k *Kafka) Addrs() []string { return k.cluster.ListenAddrs() }

// Close stops the broker and writes its state to DataDir. It has no error to
// report; it returns one to satisfy io.Closer.
func (k *Kafka) Close() error {
	// First: the reaper asks the cluster, which stops answering at Close.
	k.stopReaper()
	k.cluster.Close()
	return nil
}
