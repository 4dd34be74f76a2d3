// Package app assembles one Courier process from its parts: the worker with
// its activities, the contract client, the operations service and the
// gateway with the operator console it serves, over a Temporal client, the
// mirror store and a Kafka producer. It is the one place they are wired
// together, used by the binary's commands (which dial the parts, see
// Connect), the test stack and the fault suite (which start them in
// process).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/console"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/gateway"
	"github.com/courier-mq/courier/operations"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/worker"
)

// Parts are what a Courier process is made of, already connected.
type Parts struct {
	Temporal client.Client
	Store    *store.Store
	// Producer publishes for the worker; a process without a worker needs
	// none.
	Producer sarama.SyncProducer
	// KafkaReady is the gateway's readiness probe for Kafka; nil leaves Kafka
	// out of /readyz.
	KafkaReady func(context.Context) error
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registry receives the gateway's metrics; nil means a new one with the
	// Go and process collectors.
	Registry *prometheus.Registry
}

// Roles are what one process runs, each with its package's own config. A nil
// role is not run.
type Roles struct {
	Worker  *worker.Config
	Gateway *GatewayRole
	// MetricsAddr, when set, serves the process's metrics on /metrics there:
	// for a worker, which has no gateway to serve them.
	MetricsAddr string
	// ProfilesAddr, when set, serves Go's runtime profiles on /debug/pprof/
	// there.
	ProfilesAddr string
}

// NewRegistry is a metrics registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// GatewayRole is the gateway's config and where it listens.
type GatewayRole struct {
	Config gateway.Config
	Addr   string
}

// Run runs roles until ctx ends or one of them fails.
func (p Parts) Run(ctx context.Context, roles Roles) error {
	if roles.Worker == nil && roles.Gateway == nil {
		return errors.New("nothing to run: neither worker nor gateway")
	}
	if p.Registry == nil {
		// One registry for the process: the gateway serves the worker's
		// metrics too, and a lone worker serves them on roles.MetricsAddr.
		p.Registry = NewRegistry()
	}
	// Everything is built before anything runs, so that a bad config
	// leaves nothing running behind the error.
	var gw *gateway.Server
	if roles.Gateway != nil {
		// The gateway starts workflows on the worker's task queue.
		taskQueue := ""
		if roles.Worker != nil {
			taskQueue = roles.Worker.TaskQueue
		}
		var err error
		if gw, err = p.Gateway(roles.Gateway.Config, taskQueue); err != nil {
			return err
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	if roles.Worker != nil {
		cfg := *roles.Worker
		g.Go(func() error { return p.RunWorker(ctx, cfg) })
	}
	if gw != nil {
		g.Go(func() error { return gw.Run(ctx, roles.Gateway.Addr) })
		// Every gateway samples the console's trends; the store writes
		// each minute once.
		g.Go(func() error { return sampleTrends(ctx, p.Store, p.logger()) })
	}
	if roles.MetricsAddr != "" {
		g.Go(func() error { return serveMetrics(ctx, roles.MetricsAddr, p.Registry, p.logger()) })
	}
	if roles.ProfilesAddr != "" {
		g.Go(func() error { return serveProfiles(ctx, roles.ProfilesAddr, p.logger()) })
	}
	return g.Wait()
}

// RunWorker runs the worker with the activities over p until ctx ends.
func (p Parts) RunWorker(ctx context.Context, cfg worker.Config) error {
	if p.Producer == nil {
		return errors.New("worker needs a Kafka producer")
	}
	purged := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "courier_mirror_purged_rows_total",
		Help: "Mirror rows of settled messages deleted by retention.",
	})
	metrics := []prometheus.Collector{purged}
	var mirror activities.Mirror = p.Store
	if !cfg.MirrorWritesAlone && p.Store.Groups() {
		g := store.NewGrouper(p.Store)
		// After the worker: its activities have ended by then.
		defer g.Close()
		mirror = g
		metrics = append(metrics,
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "courier_mirror_shared_transactions_total",
				Help: "Transactions that committed the mirror writes of several messages at once.",
			}, func() float64 { n, _ := g.Shared(); return float64(n) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "courier_mirror_shared_writes_total",
				Help: "Mirror writes committed in shared transactions.",
			}, func() float64 { _, n := g.Shared(); return float64(n) }),
		)
	}
	if p.Registry != nil {
		for _, c := range metrics {
			if err := p.Registry.Register(c); err != nil {
				return fmt.Errorf("register worker metrics: %w", err)
			}
		}
	}
	acts := &activities.Activities{
		Producer: p.Producer,
		Mirror:   mirror,
		HTTP:     activities.NewCheckClient(),
		Purger:   p.Store,
		Purged:   func(n int64) { purged.Add(float64(n)) },
	}
	return worker.Run(ctx, cfg, worker.Deps{Client: p.Temporal, Activities: acts, Logger: p.logger()})
}

// Messages is the contract client over p, starting workflows on taskQueue
// (empty: contract.TaskQueue).
func (p Parts) Messages(taskQueue string) (*contract.Client, error) {
	return contract.NewClient(p.Temporal, contract.ClientConfig{TaskQueue: taskQueue, Rows: p.Store, Logger: p.logger()})
}

// Gateway builds the gateway over p, with the operator console it serves,
// starting workflows on taskQueue (empty: contract.TaskQueue). The API and
// the console act through one operations service.
func (p Parts) Gateway(cfg gateway.Config, taskQueue string) (*gateway.Server, error) {
	messages, err := p.Messages(taskQueue)
	if err != nil {
		return nil, err
	}
	ops, err := operations.New(operations.Deps{Messages: messages, Store: p.Store, Logger: p.logger()})
	if err != nil {
		return nil, err
	}
	// The console's defaults follow the gateway's (its first check-back
	// is the default policy's), and it signs in the gateway's identities.
	cfg.SetDefaults()
	keys, err := access.NewKeyring(cfg.APIKeys)
	if err != nil {
		return nil, fmt.Errorf("gateway: api keys: %w", err)
	}
	// One throttle counts wrong keys on the API and at the console's
	// sign-in alike.
	throttle, err := cfg.NewThrottle(p.logger())
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	con, err := console.New(cfg.Console, console.Deps{Operations: ops, Messages: messages, Store: p.Store, Keys: keys, Throttle: throttle, Logger: p.logger()})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	gw, err := gateway.New(cfg, gateway.Deps{
		Messages:   messages,
		Operations: ops,
		Store:      p.Store,
		Console:    con,
		Kafka:      p.KafkaReady,
		Throttle:   throttle,
		Logger:     p.logger(),
		Registry:   p.Registry,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return gw, nil
}

func (p Parts) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.Default()
	}
	return p.Logger
}
