package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/courier-mq/courier/internal/freeport"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

// Production is the production shape as real processes, and the handles its
// faults need.
type Production struct {
	*Stack
	Workers, Gateways []*Process
	Kafka             *kfake.Cluster
	kafkaPorts        []int
}

// ProductionConfig shapes a production stack.
type ProductionConfig struct {
	// Shards is the Temporal cluster's history shard count.
	Shards int
	// Workers is how many `courier worker` processes run.
	Workers int
	// Open runs the gateways without API keys (for courier bench, which
	// sends none).
	Open bool
}

// NewProductionStack starts Courier as production runs it, every part its
// own process but the Kafka-protocol brokers: a Temporal cluster of two
// nodes of the Temporal server's own binary tbin on PostgreSQL behind a load
// balancer; the mirror in MySQL/MariaDB, migrated by `courier migrate`;
// three brokers; `courier worker` processes and two `courier gateway`
// processes of bin with API keys; the producer's check-back endpoint and a
// deduping consumer, which spread their requests over both gateways.
func NewProductionStack(t testing.TB, bin, tbin string, pc ProductionConfig) *Production {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := t.TempDir()
	p := &Production{Stack: &Stack{Driver: store.DriverMySQL}}
	s := p.Stack
	s.cluster = StartTemporalCluster(t, tbin, dir, 2, pc.Shards)
	var err error
	s.Client, err = client.DialContext(ctx, client.Options{HostPort: s.cluster.Balancer.Addr(), Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	require.NoError(t, err)
	t.Cleanup(s.Client.Close)

	for range 3 {
		port, err := freeport.Port("127.0.0.1")
		require.NoError(t, err)
		p.kafkaPorts = append(p.kafkaPorts, port)
	}
	p.Kafka, err = kfake.NewCluster(kfake.NumBrokers(3), kfake.Ports(p.kafkaPorts...), kfake.SeedTopics(partitions, Topic))
	require.NoError(t, err)
	t.Cleanup(p.Kafka.Close)
	brokers := strings.Join(p.Kafka.ListenAddrs(), ",")
	s.KafkaAddr = p.Kafka.ListenAddrs()[0]

	cfg := storetest.MySQLConfig(t)
	env := map[string]string{
		"COURIER_TEMPORAL_ADDRESS":      s.cluster.Balancer.Addr(),
		"COURIER_KAFKA_BROKERS":         brokers,
		"COURIER_DB_DRIVER":             store.DriverMySQL,
		"COURIER_DB_DSN":                cfg.DSN,
		"COURIER_API_KEYS":              apiKeysEnv(),
		"COURIER_CHECK_URL_ALLOW_HOSTS": "loopback",
		"COURIER_WORKER_STOP_TIMEOUT":   "1s",
		"COURIER_LOG_LEVEL":             "warn",
	}
	if pc.Open {
		delete(env, "COURIER_API_KEYS")
	}
	migrate := NewProcess("migrate", bin, []string{"migrate"}, env, filepath.Join(dir, "migrate.log"))
	require.NoError(t, migrate.Start())
	require.Eventually(t, migrate.Exited, time.Minute, 100*time.Millisecond)
	require.True(t, migrate.Succeeded(), "courier migrate failed:\n%s", migrate.LogTail(4<<10))
	s.Store, err = store.Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Store.Close() })

	s.startProducer(t, Policy())
	start := func(name string, args ...string) *Process {
		proc := NewProcess(name, bin, args, env, filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".log"))
		require.NoError(t, proc.Start())
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s log (tail):\n%s", name, proc.LogTail(4<<10))
			}
			_ = proc.Stop()
		})
		return proc
	}
	var bases []string
	for i := range pc.Workers {
		p.Workers = append(p.Workers, start(fmt.Sprintf("worker %d", i+1), "worker"))
	}
	for i := range 2 {
		port, err := freeport.Port("127.0.0.1")
		require.NoError(t, err)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		p.Gateways = append(p.Gateways, start(fmt.Sprintf("gateway %d", i+1), append([]string{"gateway", "--http-addr", addr}, policyFlags(Policy())...)...))
		bases = append(bases, "http://"+addr)
	}
	s.Worker = p.Workers[0]
	s.killed = slices.Concat(p.Workers[1:], p.Gateways)
	s.base = bases[0]
	s.Gateway, s.Operator = NewSpreadClient(bases, producerKey), NewSpreadClient(bases, operatorKey)
	consumer := NewSpreadClient(bases, consumerKey)
	s.clients = []*Client{s.Gateway, s.Operator, consumer}
	require.NoError(t, s.Gateway.Ready(ctx, 2*time.Minute), "the gateways did not become ready")
	require.NoError(t, s.cluster.waitSearchAttributes(ctx), "Courier's search attributes did not reach every node")
	s.Downstream = NewDownstream(ctx, consumer)
	require.NoError(t, s.Downstream.Consume(ctx, s.KafkaAddr, Topic))
	return p
}

// Answers counts the requests the producer, the operator and the consumer
// sent to the gateways, retries included, and the 5xx answers among them.
func (p *Production) Answers() (requests, serverErrors int64, byCode map[int]int64) {
	byCode = map[int]int64{}
	for _, c := range p.clients {
		requests += c.Attempts()
		serverErrors += c.ServerErrors()
		for code, n := range c.ServerErrorCodes() {
			byCode[code] += n
		}
	}
	return requests, serverErrors, byCode
}

// Faults kills one part of each kind at a different time while the load
// runs, and brings it back: a Temporal node, a worker, a gateway (each with
// SIGKILL) and a Kafka broker (removed from the cluster and added again).
func (p *Production) Faults(ctx context.Context, _ *Stack) error {
	steps := []struct {
		wait time.Duration
		do   func() error
	}{
		{3 * time.Second, func() error {
			if err := p.cluster.RestartNode(ctx, 0, 5*time.Second); err != nil {
				return err
			}
			return p.cluster.waitMembers(ctx, len(p.cluster.Nodes)) // it rejoined
		}},
		{3 * time.Second, func() error { return p.restart(ctx, p.Workers[len(p.Workers)-1]) }},
		{3 * time.Second, func() error { return p.restart(ctx, p.Gateways[0]) }},
		{3 * time.Second, func() error {
			if err := p.Kafka.RemoveNode(1); err != nil {
				return err
			}
			p.brokerRestarts++
			if err := sleep(ctx, 4*time.Second); err != nil {
				return err
			}
			_, _, err := p.Kafka.AddNode(1, p.kafkaPorts[1])
			return err
		}},
	}
	for _, st := range steps {
		if err := sleep(ctx, st.wait); err != nil {
			return err
		}
		if err := st.do(); err != nil {
			return err
		}
	}
	return nil
}

// restart kills proc with SIGKILL and starts it again two seconds later.
func (p *Production) restart(ctx context.Context, proc *Process) error {
	if err := proc.Kill(); err != nil {
		return err
	}
	if err := sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	return proc.Start()
}
