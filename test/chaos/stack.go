package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/courier-mq/courier/app"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/devstack"
	"github.com/courier-mq/courier/gateway"
	"github.com/courier-mq/courier/internal/freeport"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
	"github.com/courier-mq/courier/worker"
)

// Topic is the Kafka topic every chaos message goes to.
const Topic = "chaos"

// partitions is the partition count of Topic.
const partitions = 3

// Policy is the short lifecycle the chaos stacks run with, so that a scenario
// settles within seconds of its last fault: check-backs from 200 ms on, at
// most 2 s apart, six of them (about 7 s in all) with a 1 s timeout; resends
// 2 s apart, DEAD 6 s after the first send without completion.
func Policy() contract.Policy {
	return contract.Policy{
		CheckDelay:         200 * time.Millisecond,
		CheckBackoff:       2,
		CheckMaxDelay:      2 * time.Second,
		CheckMaxAttempts:   6,
		CheckTimeout:       time.Second,
		ResendIntervals:    []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second},
		PublishMaxInterval: time.Second,
	}
}

// Stack is the real system with a fault handle on every part: an in-process
// Temporal server with SQLite persistence that can be restarted on its data
// directory, a kfake broker behind a proxy that can be restarted on its data
// directory, the mirror database (MySQL behind a proxy, or SQLite where no
// MySQL answers), the producer's check-back endpoint behind a proxy, the
// gateway over real HTTP, `courier worker` as a separate OS process, and the
// downstream consumer. Everything stops when the test ends.
type Stack struct {
	// Temporal is the running Temporal server; RestartTemporal replaces it.
	Temporal *devstack.Temporal
	// Client is the test's own Temporal client, for checking workflows.
	Client client.Client
	// Broker is the Kafka broker and its proxy; nil from NewDevStack, whose
	// broker runs inside `courier dev`.
	Broker *Broker
	// KafkaAddr is where clients reach the broker: the proxy's address, or
	// the dev broker's.
	KafkaAddr string
	// MySQL is the proxy in front of the mirror database, nil on SQLite.
	MySQL *Proxy
	// Store reads the mirror directly, not through the proxy.
	Store *store.Store
	// Driver is the mirror's database driver.
	Driver string
	// Checks is the proxy in front of the producer's check-back endpoint.
	Checks *Proxy
	// Producer is the check-back endpoint itself.
	Producer *Producer
	// Gateway calls the gateway over HTTP as the producer.
	Gateway *Client
	// Operator calls the gateway as an admin.
	Operator *Client
	// base is the gateway's URL.
	base string
	// Worker is the `courier worker` process, or `courier dev` from NewDevStack,
	// where the worker runs inside it.
	Worker *Process
	// WorkerMetrics is the URL of the `courier worker` process's metrics
	// (empty for `courier dev`).
	WorkerMetrics string
	// Downstream is the consumer service.
	Downstream *Downstream

	temporalCfg      devstack.TemporalConfig
	temporalRestarts int

	// cluster is the production shape's Temporal cluster, and killed the
	// processes its faults kill besides Worker (see NewClusterStack).
	cluster *TemporalCluster
	killed  []*Process
	// brokerRestarts counts the Kafka brokers removed and added back.
	brokerRestarts int
	// clients are the gateway clients, whose 5xx answers are counted.
	clients []*Client
}

// NewStack starts a Stack for t, running the worker from the courier binary
// bin with policy as the gateway's default policy.
func NewStack(t *testing.T, bin string, policy contract.Policy) *Stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := t.TempDir()
	quiet := slog.New(slog.DiscardHandler)
	s := &Stack{}

	// Temporal, on a fixed port so that a restart comes back where clients
	// look for it.
	port, err := freeport.Port("127.0.0.1")
	require.NoError(t, err)
	serverLog, err := os.Create(filepath.Join(dir, "temporal.log"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = serverLog.Close() })
	s.temporalCfg = devstack.TemporalConfig{
		DataDir:          filepath.Join(dir, "temporal"),
		Port:             port,
		SearchAttributes: worker.SearchAttributes(),
		Logger:           slog.New(slog.NewTextHandler(serverLog, &slog.HandlerOptions{Level: slog.LevelError})),
	}
	s.Temporal, err = devstack.StartTemporal(ctx, s.temporalCfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Temporal.Stop() })
	s.Client, err = client.DialContext(ctx, client.Options{HostPort: s.Temporal.HostPort(), Logger: sdklog.NewStructuredLogger(quiet)})
	require.NoError(t, err)
	t.Cleanup(s.Client.Close)

	// Kafka.
	s.Broker, err = StartBroker(filepath.Join(dir, "kafka"), []string{Topic}, partitions)
	require.NoError(t, err)
	t.Cleanup(s.Broker.Close)
	s.KafkaAddr = s.Broker.Addr()

	// The mirror: the worker writes it through the proxy, the test and the
	// gateway read it directly.
	storeCfg, workerDSN := s.mirror(t)
	s.Store, err = store.Open(ctx, storeCfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Store.Close() })
	require.NoError(t, s.Store.Migrate(ctx))

	s.startProducer(t, policy)

	// The gateway, in this process, over real HTTP.
	parts := app.Parts{Temporal: s.Client, Store: s.Store, Logger: quiet, Registry: prometheus.NewRegistry()}
	gw, err := parts.Gateway(gateway.Config{
		APIKeys:            apiKeys(),
		CheckURLAllowHosts: []string{gateway.AllowLoopback},
		DefaultPolicy:      policy,
	}, "")
	require.NoError(t, err)
	api := httptest.NewServer(gw.Handler())
	t.Cleanup(api.Close)
	s.useGateway(api.URL)

	// The worker, as its own process.
	metricsPort, err := freeport.Port("127.0.0.1")
	require.NoError(t, err)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", metricsPort)
	s.WorkerMetrics = "http://" + metricsAddr + "/metrics"
	s.Worker = NewProcess("worker", bin, []string{"worker"}, map[string]string{
		"COURIER_METRICS_ADDR":        metricsAddr,
		"COURIER_TEMPORAL_ADDRESS":    s.Temporal.HostPort(),
		"COURIER_KAFKA_BROKERS":       s.Broker.Addr(),
		"COURIER_DB_DRIVER":           s.Driver,
		"COURIER_DB_DSN":              workerDSN,
		"COURIER_WORKER_STOP_TIMEOUT": "1s",
		"COURIER_LOG_LEVEL":           "warn",
	}, filepath.Join(dir, "worker.log"))
	require.NoError(t, s.Worker.Start())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker log (tail):\n%s", s.Worker.LogTail(8<<10))
		}
		_ = s.Worker.Stop()
	})

	// The consumer service, reading through the broker's proxy.
	s.startDownstream(ctx, t, s.KafkaAddr)
	// Stop the consumer and its pending completes before anything else.
	t.Cleanup(cancel)
	return s
}

// startProducer starts the producer's check-back endpoint behind its proxy.
func (s *Stack) startProducer(t testing.TB, policy contract.Policy) {
	t.Helper()
	s.Producer = NewProducer(policy.CheckTimeout + 500*time.Millisecond)
	checks := httptest.NewServer(s.Producer)
	t.Cleanup(checks.Close)
	var err error
	s.Checks, err = NewProxy(checks.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Checks.Close() })
}

// useGateway points the producer's and the operator's clients at the
// gateway at base.
func (s *Stack) useGateway(base string) {
	s.base = base
	s.Gateway = NewClient(base, producerKey)
	s.Operator = NewClient(base, operatorKey)
}

// startDownstream starts the consumer service on the broker at addr until ctx
// ends; it completes through the gateway with the consumer's key.
func (s *Stack) startDownstream(ctx context.Context, t *testing.T, addr string) {
	t.Helper()
	s.Downstream = NewDownstream(ctx, NewClient(s.base, consumerKey))
	require.NoError(t, s.Downstream.Consume(ctx, addr, Topic))
}

// mirror picks the mirror database: a fresh MySQL database behind a proxy
// when a server answers, else a SQLite file (then no MySQL fault can be
// injected). It returns the store's config and the worker's DSN.
func (s *Stack) mirror(t *testing.T) (store.Config, string) {
	t.Helper()
	if !mysqlAvailable() {
		cfg := storetest.SQLiteConfig(t)
		s.Driver = store.DriverSQLite
		return cfg, cfg.DSN
	}
	cfg := storetest.MySQLConfig(t)
	s.Driver = store.DriverMySQL
	dsn, err := mysql.ParseDSN(cfg.DSN)
	require.NoError(t, err)
	s.MySQL, err = NewProxy(dsn.Addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.MySQL.Close() })
	dsn.Addr = s.MySQL.Addr()
	dsn.Timeout = 2 * time.Second
	dsn.ReadTimeout = 5 * time.Second
	dsn.WriteTimeout = 5 * time.Second
	return cfg, dsn.FormatDSN()
}

// mysqlAvailable reports whether the mirror goes to MySQL, as storetest
// decides it: always when COURIER_TEST_MYSQL_DSN is set (storetest then
// fails if the server does not answer), else when 127.0.0.1:3306 answers.
func mysqlAvailable() bool {
	if _, ok := os.LookupEnv(storetest.EnvMySQLDSN); ok {
		return true
	}
	conn, err := net.DialTimeout("tcp", "127.0.0.1:3306", time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// CheckURL is the check URL messages name: the producer's endpoint through
// its proxy.
func (s *Stack) CheckURL() string { return "http://" + s.Checks.Addr() + "/courier/check" }

// RestartTemporal stops the Temporal server, leaves it down for down, and
// starts it again on the same data directory and port.
func (s *Stack) RestartTemporal(ctx context.Context, down time.Duration) error {
	if err := s.Temporal.Stop(); err != nil {
		return err
	}
	s.temporalRestarts++
	if err := sleep(ctx, down); err != nil {
		return err
	}
	t, err := devstack.StartTemporal(ctx, s.temporalCfg)
	if err != nil {
		return fmt.Errorf("restart temporal on %s: %w", s.temporalCfg.DataDir, err)
	}
	s.Temporal = t
	return nil
}

// TemporalRestarts counts the calls to RestartTemporal.
func (s *Stack) TemporalRestarts() int { return s.temporalRestarts }

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
