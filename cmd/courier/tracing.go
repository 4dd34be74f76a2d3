package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/courier-mq/courier/tracing/otlp"
)

// tracingShutdownTimeout bounds how long a stopping process spends sending
// its last spans.
const tracingShutdownTimeout = 5 * time.Second

// startTracing sets up tracing from the OTEL_* environment (otlp.Setup)
// for the commands that run Courier; the returned function flushes it.
func startTracing(ctx context.Context, logger *slog.Logger) (stop func(), err error) {
	shutdown, err := otlp.Setup(ctx, "courier")
	if err != nil {
		return nil, err
	}
	if otlp.Configured() {
		logger.Info("exporting traces over OTLP (OTEL_* environment)")
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingShutdownTimeout)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			logger.Warn("tracing: last spans not sent", "err", err)
		}
	}, nil
}
