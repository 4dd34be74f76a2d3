package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveMetrics serves reg on addr's /metrics until ctx ends.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, logger *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return serve(ctx, "metrics", addr, mux, logger)
}

// serveProfiles serves Go's runtime profiles on addr's /debug/pprof/ until
// ctx ends: `go tool pprof http://<addr>/debug/pprof/profile?seconds=20`
// profiles the whole process (for `courier dev`, the embedded Temporal server
// too). It is a listener of its own, never the gateway's public port.
func serveProfiles(ctx context.Context, addr string, logger *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return serve(ctx, "profiles", addr, mux, logger)
}

// serve serves h on addr until ctx ends, then shuts down within 5 s.
func serve(ctx context.Context, what, addr string, h http.Handler, logger *slog.Logger) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%s listen on %s: %w", what, addr, err)
	}
	// A profile takes as long as it was asked to; the write timeout is left
	// unset for that reason.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info(what+" listening", "addr", ln.Addr().String())
	select {
	case err := <-served:
		return fmt.Errorf("%s on %s: %w", what, addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s shutdown on %s: %w", what, addr, err)
	}
	return nil
}
