package main

import (
	"context"
	"log/slog"

	"github.com/courier-mq/courier/app"
)

// roles says which parts a process runs.
type roles struct {
	gateway, worker bool
}

// appRoles are r with their packages' configs, composed from c.
func (c *Config) appRoles(r roles) (app.Roles, error) {
	ar := app.Roles{ProfilesAddr: c.ProfilesAddr}
	if r.worker {
		w := c.Worker
		if w.MirrorRetention == 0 {
			w.MirrorRetention = -1 // the flag's 0 keeps every row
		}
		ar.Worker = &w
		ar.MetricsAddr = c.MetricsAddr
	}
	if r.gateway {
		gc, err := c.gatewayConfig()
		if err != nil {
			return app.Roles{}, err
		}
		ar.Gateway = &app.GatewayRole{Config: gc, Addr: c.HTTPAddr}
	}
	return ar, nil
}

// runServices is `courier gateway`, `courier worker` and `courier all`.
func runServices(ctx context.Context, cfg *Config, logger *slog.Logger, r roles) error {
	ar, err := cfg.appRoles(r)
	if err != nil {
		return err
	}
	conn, err := app.Connect(ctx, cfg.connectConfig(), r.worker, logger)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	return conn.Run(ctx, ar)
}

// runMigrate is `courier migrate`: apply the mirror's schema migrations.
func runMigrate(ctx context.Context, cfg *Config, logger *slog.Logger) error {
	mirror, err := app.OpenStore(ctx, cfg.Store, true, logger)
	if err != nil {
		return err
	}
	logger.Info("mirror schema is up to date", "driver", cfg.Store.Driver)
	return mirror.Close()
}
