package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/gateway"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/worker"
	"github.com/courier-mq/courier/workflows"
)

// roles says which parts a process runs.
type roles struct {
	gateway, worker bool
}

// services are the connections one courier process holds.
type services struct {
	temporal client.Client
	store    *store.Store
	kafka    *kafka      // worker processes
	probe    *kafkaProbe // gateway-only processes
}

func (s *services) close() {
	if s.kafka != nil {
		_ = s.kafka.Close()
	}
	if s.probe != nil {
		_ = s.probe.Close()
	}
	if s.store != nil {
		_ = s.store.Close()
	}
	if s.temporal != nil {
		s.temporal.Close()
	}
}

// connect opens what the roles need.
func connect(ctx context.Context, cfg *Config, logger *slog.Logger, r roles, migrate bool) (*services, error) {
	s := &services{}
	var err error
	if s.store, err = openStore(ctx, cfg, logger, migrate); err != nil {
		return nil, err
	}
	if s.temporal, err = dialTemporal(ctx, cfg, logger); err != nil {
		s.close()
		return nil, err
	}
	if r.worker {
		if s.kafka, err = connectKafka(ctx, cfg, logger); err != nil {
			s.close()
			return nil, err
		}
	} else {
		s.probe = &kafkaProbe{cfg: cfg}
	}
	return s, nil
}

// serve runs the gateway and/or worker until ctx ends.
func serve(ctx context.Context, cfg *Config, logger *slog.Logger, r roles, s *services) error {
	g, ctx := errgroup.WithContext(ctx)
	if r.worker {
		acts := &activities.Activities{
			Producer: s.kafka.producer,
			Mirror:   s.store,
			HTTP:     activities.NewCheckClient(),
		}
		g.Go(func() error {
			return worker.Run(ctx, cfg.workerConfig(), worker.Deps{Client: s.temporal, Activities: acts, Logger: logger})
		})
	}
	if r.gateway {
		gc, err := cfg.gatewayConfig()
		if err != nil {
			return err
		}
		probe := s.probe.ready
		if s.kafka != nil {
			probe = s.kafka.ready
		}
		registry := prometheus.NewRegistry()
		registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		messages, err := workflows.NewClient(s.temporal, workflows.ClientConfig{Rows: s.store, Logger: logger})
		if err != nil {
			return err
		}
		gw, err := gateway.New(gc, gateway.Deps{
			Messages: messages,
			Store:    s.store,
			Kafka:    probe,
			Logger:   logger,
			Registry: registry,
		})
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		g.Go(func() error { return gw.Run(ctx, cfg.HTTPAddr) })
	}
	return g.Wait()
}

// runServices is `courier gateway`, `courier worker` and `courier all`.
func runServices(ctx context.Context, cfg *Config, logger *slog.Logger, r roles) error {
	s, err := connect(ctx, cfg, logger, r, cfg.DBAutoMigrate)
	if err != nil {
		return err
	}
	defer s.close()
	return serve(ctx, cfg, logger, r, s)
}

// runMigrate is `courier migrate`: apply the mirror's schema migrations.
func runMigrate(ctx context.Context, cfg *Config, logger *slog.Logger) error {
	mirror, err := openStore(ctx, cfg, logger, true)
	if err != nil {
		return err
	}
	logger.Info("mirror schema is up to date", "driver", cfg.DBDriver)
	return mirror.Close()
}
