package teststack

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/server/temporaltest"
	"golang.org/x/sync/errgroup"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/app"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
	"github.com/courier-mq/courier/worker"
)

// Config shapes a Stack. The zero value is usable.
type Config struct {
	// Topics are created on the broker and read by the Stack's Kafka log.
	// Default: DefaultTopic.
	Topics []string
	// Partitions is the partition count of each topic. Default 3.
	Partitions int32
}

// DefaultTopic is the topic a Stack creates when Config.Topics is empty.
const DefaultTopic = "orders"

// Stack is a running Courier engine; see the package doc. Everything stops
// when the test that created it ends.
type Stack struct {
	// Client talks to the in-process Temporal server's default namespace.
	Client client.Client
	// Namespace is the Temporal namespace the worker serves.
	Namespace string
	// HostPort is the Temporal frontend's address, for tests that dial
	// their own client.
	HostPort string
	// Store is the SQLite mirror the worker writes.
	Store *store.Store
	// Parts are the stack's Temporal client, store and producer, assembled
	// as the binary assembles them; build a gateway with Parts.Gateway.
	Parts app.Parts
	// Messages is the contract client over Client and Store.
	Messages *contract.Client
	// Brokers are the kfake broker's addresses.
	Brokers []string
	// Cluster is the kfake broker itself, for tests that break it.
	Cluster *kfake.Cluster
	// Kafka records every message published to the Stack's topics.
	Kafka *KafkaLog
	// Checks is the producer's check-back endpoint; its URL is Checks.URL.
	Checks *CheckBack
}

// New starts a Stack for t and stops it when t ends. The Temporal server is
// tied to t, so New needs a *testing.T.
func New(t *testing.T, cfg Config) *Stack {
	t.Helper()
	if len(cfg.Topics) == 0 {
		cfg.Topics = []string{DefaultTopic}
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 3
	}
	ctx, cancel := context.WithCancel(context.Background())

	logger := testLogger(t)
	ts := temporaltest.NewServer(temporaltest.WithT(t),
		temporaltest.WithBaseClientOptions(client.Options{Logger: log.NewStructuredLogger(logger)}))
	c := ts.GetDefaultClient()
	require.NoError(t, worker.EnsureSearchAttributes(ctx, c, ts.GetDefaultNamespace()))

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(cfg.Partitions, cfg.Topics...))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	producer, err := activities.NewProducer(activities.ProducerConfig{Brokers: cluster.ListenAddrs()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = producer.Close() })

	s := &Stack{
		Client:    c,
		Namespace: ts.GetDefaultNamespace(),
		HostPort:  ts.GetFrontendHostPort(),
		Store:     storetest.NewSQLite(t),
		Brokers:   cluster.ListenAddrs(),
		Cluster:   cluster,
		Checks:    newCheckBack(),
	}
	s.Parts = app.Parts{Temporal: c, Store: s.Store, Producer: producer, Logger: logger}
	s.Messages, err = s.Parts.Messages("")
	require.NoError(t, err)
	check := httptest.NewServer(s.Checks)
	t.Cleanup(check.Close)
	s.Checks.URL = check.URL
	s.Kafka = consume(t, s.Brokers, cfg.Topics)

	var g errgroup.Group
	g.Go(func() error { return s.Parts.RunWorker(ctx, worker.Config{StopTimeout: time.Second}) })
	t.Cleanup(func() {
		cancel()
		require.NoError(t, g.Wait())
	})
	return s
}

// Input is a message id on DefaultTopic, with an empty JSON payload, the
// default policy and this Stack's check-back, ready for Messages.Start.
// Tests change the fields their case is about.
func (s *Stack) Input(id string) contract.Input {
	return contract.Input{
		Message: contract.Message{ID: id, Topic: DefaultTopic, Payload: []byte(`{}`), CheckURL: s.Checks.URL},
		Policy:  wire.DefaultTiming(),
	}
}

// Start starts in as the gateway would and fails t if the start fails.
func (s *Stack) Start(t testing.TB, in contract.Input) {
	t.Helper()
	_, err := s.Messages.Start(t.Context(), in, "fp")
	require.NoError(t, err)
}
