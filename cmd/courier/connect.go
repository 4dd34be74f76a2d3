package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-sql-driver/mysql"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/worker"
)

// connectTimeout is how long start-up waits for a dependency that is not up
// yet (containers start in any order) before giving up.
const connectTimeout = 2 * time.Minute

// retry calls fn until it succeeds, ctx ends or connectTimeout passes.
func retry(ctx context.Context, logger *slog.Logger, what string, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	delay := 200 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, errPermanent) {
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

// errPermanent marks a start-up error that waiting cannot fix.
var errPermanent = errors.New("not retried")

// mysqlPermanent are MySQL errors that retrying cannot fix: wrong database
// name, wrong credentials, no access.
var mysqlPermanent = map[uint16]bool{1044: true, 1045: true, 1049: true, 1698: true}

// dialTemporal connects to the Temporal frontend and makes sure Courier's
// search attributes exist on the namespace.
func dialTemporal(ctx context.Context, cfg *Config, logger *slog.Logger) (client.Client, error) {
	var c client.Client
	err := retry(ctx, logger, "Temporal at "+cfg.TemporalAddress, func(ctx context.Context) error {
		var err error
		c, err = client.DialContext(ctx, client.Options{
			HostPort:  cfg.TemporalAddress,
			Namespace: cfg.TemporalNamespace,
			Logger:    sdklog.NewStructuredLogger(logger.With("component", "temporal-sdk")),
		})
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

// openStore opens the mirror database, migrating it when asked to.
func openStore(ctx context.Context, cfg *Config, logger *slog.Logger, migrate bool) (*store.Store, error) {
	var mirror *store.Store
	err := retry(ctx, logger, "mirror database", func(ctx context.Context) error {
		var err error
		mirror, err = store.Open(ctx, cfg.storeConfig())
		var myErr *mysql.MySQLError
		if errors.As(err, &myErr) && mysqlPermanent[myErr.Number] {
			return fmt.Errorf("%w (%w)", err, errPermanent)
		}
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

func (c *Config) producerConfig() activities.ProducerConfig {
	return activities.ProducerConfig{
		Brokers:  splitList(c.KafkaBrokers),
		ClientID: c.KafkaClientID,
		Version:  c.KafkaVersion,
	}
}

// kafka is one sarama client shared by the producer and the readiness probe.
type kafka struct {
	client   sarama.Client
	producer sarama.SyncProducer
}

// connectKafka connects to the brokers and builds the idempotent producer.
func connectKafka(ctx context.Context, cfg *Config, logger *slog.Logger) (*kafka, error) {
	sc, err := activities.ProducerSaramaConfig(cfg.producerConfig())
	if err != nil {
		return nil, err
	}
	k := &kafka{}
	err = retry(ctx, logger, "Kafka at "+cfg.KafkaBrokers, func(context.Context) error {
		k.client, err = sarama.NewClient(splitList(cfg.KafkaBrokers), sc)
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
	cfg *Config
	mu  sync.Mutex
	cl  sarama.Client
}

func (p *kafkaProbe) ready(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cl == nil {
		sc, err := activities.ProducerSaramaConfig(p.cfg.producerConfig())
		if err != nil {
			return err
		}
		sc.Metadata.Retry.Max = 0
		if p.cl, err = sarama.NewClient(splitList(p.cfg.KafkaBrokers), sc); err != nil {
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
