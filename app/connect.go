package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/tracing/otlp"
	"github.com/courier-mq/courier/worker"
)

// connectTimeout is how long start-up waits for a dependency that is not up
// yet (containers start in any order) before giving up.
const connectTimeout = 2 * time.Minute

// retry calls fn until it succeeds, ctx ends or connectTimeout passes, or
// fn fails in a way the store classified as one that retrying cannot fix.
func retry(ctx context.Context, logger *slog.Logger, what string, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	delay := 200 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, store.ErrPermanent) {
			return fmt.Errorf("%s: %w", what, err)
		}
		logger.Warn("waiting for "+what, "error", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// ConnectConfig says where a process's parts are.
type ConnectConfig struct {
	TemporalAddress   string
	TemporalNamespace string
	// TemporalUncompressed sends gRPC requests to Temporal without gzip,
	// which the SDK uses by default. Compressing costs CPU on both sides and
	// saves only bandwidth: `courier dev` turns it off for the server in its
	// own process.
	TemporalUncompressed bool
	Store                store.Config
	// Migrate applies the mirror's schema migrations once it answers.
	Migrate bool
	Kafka   activities.ProducerConfig
}

// Connected are the parts Connect opened; Close closes them.
type Connected struct {
	Parts
	closers []func() error
}

// Close closes every connection, the last opened first.
func (c *Connected) Close() error {
	var errs []error
	for i := len(c.closers) - 1; i >= 0; i-- {
		errs = append(errs, c.closers[i]())
	}
	return errors.Join(errs...)
}

// Connect opens the parts a process needs, waiting up to two minutes for
// each one that is not up yet: the mirror, Temporal (and Courier's search
// attributes on its namespace) and, with producer set (a worker), the Kafka
// producer. Without it, Kafka is only probed for readiness, connecting on
// first use so that a gateway starts while Kafka is down.
func Connect(ctx context.Context, cfg ConnectConfig, producer bool, logger *slog.Logger) (*Connected, error) {
	c := &Connected{Parts: Parts{Logger: logger}}
	var err error
	if c.Store, err = OpenStore(ctx, cfg.Store, cfg.Migrate, logger); err != nil {
		return nil, err
	}
	c.closers = append(c.closers, c.Store.Close)
	if c.Temporal, err = dialTemporal(ctx, cfg, logger); err != nil {
		_ = c.Close()
		return nil, err
	}
	c.closers = append(c.closers, func() error { c.Temporal.Close(); return nil })
	if !producer {
		probe := &kafkaProbe{cfg: cfg.Kafka}
		c.KafkaReady = probe.ready
		c.closers = append(c.closers, probe.Close)
		return c, nil
	}
	k, err := connectKafka(ctx, cfg.Kafka, logger)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	c.Producer, c.KafkaReady = k.producer, k.ready
	c.closers = append(c.closers, k.Close)
	return c, nil
}

// DialTemporal connects once to the Temporal frontend at address, for the
// commands that talk to a cluster without running Courier (bench, replay).
func DialTemporal(ctx context.Context, address, namespace string, logger *slog.Logger) (client.Client, error) {
	opts, err := temporalOptions(address, namespace, logger)
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("dial Temporal at %s: %w", address, err)
	}
	return c, nil
}

// temporalOptions are the client options of every Temporal connection
// Courier makes: the SDK logs through Courier's logger, and when traces are
// exported (otlp.Configured) starts, signals and updates are spans that
// carry the trace context in Temporal's headers (temporalTracing).
// Without an exporter nothing reads those headers, so none are written.
func temporalOptions(address, namespace string, logger *slog.Logger) (client.Options, error) {
	opts := client.Options{
		HostPort:  address,
		Namespace: namespace,
		Logger:    sdklog.NewStructuredLogger(logger.With("component", "temporal-sdk")),
	}
	if otlp.Configured() {
		traced, err := temporalTracing()
		if err != nil {
			return client.Options{}, fmt.Errorf("Temporal tracing interceptor: %w", err)
		}
		opts.Interceptors = []interceptor.ClientInterceptor{traced}
	}
	return opts, nil
}

// dialTemporal connects to the Temporal frontend and makes sure Courier's
// search attributes exist on the namespace.
func dialTemporal(ctx context.Context, cfg ConnectConfig, logger *slog.Logger) (client.Client, error) {
	var c client.Client
	err := retry(ctx, logger, "Temporal at "+cfg.TemporalAddress, func(ctx context.Context) error {
		opts, err := temporalOptions(cfg.TemporalAddress, cfg.TemporalNamespace, logger)
		if err != nil {
			return err
		}
		if cfg.TemporalUncompressed {
			opts.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
		}
		c, err = client.DialContext(ctx, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := retry(ctx, logger, "search attributes", func(ctx context.Context) error {
		return worker.EnsureSearchAttributes(ctx, c, cfg.TemporalNamespace)
	}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// OpenStore opens the mirror database, waiting for it as Connect does, and
// migrates it when asked to.
func OpenStore(ctx context.Context, cfg store.Config, migrate bool, logger *slog.Logger) (*store.Store, error) {
	var mirror *store.Store
	err := retry(ctx, logger, "mirror database", func(ctx context.Context) error {
		var err error
		mirror, err = store.Open(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, err
	}
	if migrate {
		if err := mirror.Migrate(ctx); err != nil {
			_ = mirror.Close()
			return nil, fmt.Errorf("migrate mirror: %w", err)
		}
	}
	return mirror, nil
}

// kafka is one sarama client shared by the producer and the readiness probe.
type kafka struct {
	client   sarama.Client
	producer sarama.SyncProducer
}

// connectKafka connects to the brokers and builds the idempotent producer.
func connectKafka(ctx context.Context, cfg activities.ProducerConfig, logger *slog.Logger) (*kafka, error) {
	sc, err := activities.ProducerSaramaConfig(cfg)
	if err != nil {
		return nil, err
	}
	k := &kafka{}
	err = retry(ctx, logger, "Kafka at "+strings.Join(cfg.Brokers, ","), func(context.Context) error {
		k.client, err = sarama.NewClient(cfg.Brokers, sc)
		return err
	})
	if err != nil {
		return nil, err
	}
	k.producer, err = sarama.NewSyncProducerFromClient(k.client)
	if err != nil {
		_ = k.client.Close()
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return k, nil
}

// ready answers whether a broker can be reached, for /readyz.
func (k *kafka) ready(context.Context) error {
	if len(k.client.Brokers()) == 0 {
		return errors.New("no Kafka broker known")
	}
	if err := k.client.RefreshMetadata(); err != nil {
		return fmt.Errorf("kafka metadata: %w", err)
	}
	return nil
}

func (k *kafka) Close() error {
	return errors.Join(k.producer.Close(), k.client.Close())
}

// kafkaProbe is the gateway's readiness probe when it runs without a worker:
// it connects on first use, so the gateway starts even while Kafka is down.
type kafkaProbe struct {
	cfg activities.ProducerConfig
	mu  sync.Mutex
	cl  sarama.Client
}

func (p *kafkaProbe) ready(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cl == nil {
		sc, err := activities.ProducerSaramaConfig(p.cfg)
		if err != nil {
			return err
		}
		sc.Metadata.Retry.Max = 0
		if p.cl, err = sarama.NewClient(p.cfg.Brokers, sc); err != nil {
			return fmt.Errorf("kafka: %w", err)
		}
	}
	if err := p.cl.RefreshMetadata(); err != nil {
		return fmt.Errorf("kafka metadata: %w", err)
	}
	return nil
}

func (p *kafkaProbe) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cl == nil {
		return nil
	}
	return p.cl.Close()
}
