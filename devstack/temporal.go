package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/temporal"

	"github.com/courier-mq/courier/worker"
)

// readyTimeout bounds how long a Start function waits for its server to answer
// when the caller's context has no earlier deadline.
const readyTimeout = 30 * time.Second

// pollInterval is how often a Start function asks a starting server whether it
// answers yet.
const pollInterval = 50 * time.Millisecond

// TemporalConfig configures the embedded Temporal server.
type TemporalConfig struct {
	// DataDir holds the SQLite files (temporal.db, visibility.db). It is
	// created if missing; starting again on the same DataDir keeps every
	// workflow. Required unless Postgres is set, unused when it is.
	DataDir string
	// Postgres, when set, keeps the server's state in PostgreSQL instead of
	// SQLite: a URL like
	// postgres://root@127.0.0.1:5432/courier_temporal?sslmode=disable whose
	// query parameters go to the pgx driver (sslmode defaults to disable).
	// Executions live in the database the URL names, visibility in the same
	// name with "_visibility" appended. Both are created if missing (the user
	// needs CREATEDB) and get the schema when empty; starting again on the
	// same databases keeps every workflow. The server runs 4 history shards
	// on PostgreSQL, recorded in the database at first start: the count of a
	// database never changes.
	Postgres string
	// Host is the IP address the frontend binds to. Default "127.0.0.1". The
	// internal services always bind to loopback.
	Host string
	// Port is the frontend gRPC port. Default 7233.
	Port int
	// Namespace is created on first start with a 7 day retention. Default
	// "default".
	Namespace string
	// SearchAttributes are registered on Namespace at every start. Attributes
	// already registered with the same type are left alone; one registered
	// with another type fails the start.
	SearchAttributes map[string]enumspb.IndexedValueType
	// Logger receives the server's warnings and errors. Default slog.Default().
	Logger *slog.Logger
}

func (c *TemporalConfig) setDefaults() {
	if c.Host == "" {
		c.Host = loopback
	}
	if c.Port == 0 {
		c.Port = 7233
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first invalid field of a defaulted TemporalConfig.
func (c TemporalConfig) Validate() error {
	if c.Postgres != "" {
		if _, err := parsePostgresURL(c.Postgres); err != nil {
			return fmt.Errorf("temporal: Postgres: %w", err)
		}
	} else if c.DataDir == "" {
		return errors.New("temporal: DataDir or Postgres is required")
	}
	if net.ParseIP(c.Host) == nil {
		return fmt.Errorf("temporal: Host %q is not an IP address", c.Host)
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("temporal: Port %d is not in 1-65535", c.Port)
	}
	for name, typ := range c.SearchAttributes {
		if _, ok := enumspb.IndexedValueType_name[int32(typ)]; !ok || typ == enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED {
			return fmt.Errorf("temporal: search attribute %s has no valid type (%d)", name, typ)
		}
	}
	return nil
}

// Temporal is a running embedded Temporal server.
type Temporal struct {
	server   temporal.Server
	hostPort string
	logLevel *slog.LevelVar // the server logger's threshold
}

// StartTemporal starts a Temporal server with SQLite persistence under
// cfg.DataDir, or on PostgreSQL when cfg.Postgres is set. It sets up the
// schema and the namespace on first start, waits until the frontend serves
// the namespace, and registers cfg.SearchAttributes.
func StartTemporal(ctx context.Context, cfg TemporalConfig) (*Temporal, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The server logs a frontend it cannot listen for as fatal and exits
	// the process (see serverLogger.Fatal): find out here and return an
	// error instead.
	if err := CheckPort(cfg.Host, cfg.Port); err != nil {
		return nil, fmt.Errorf("temporal frontend: %w", err)
	}
	logger := newServerLogger(cfg.Logger)
	stores, err := newStores(cfg, logger)
	if err != nil {
		return nil, err
	}
	if err := stores.prepare(ctx, cfg.Namespace, cfg.SearchAttributes); err != nil {
		return nil, err
	}
	opts, err := serverOptions(cfg, stores, logger)
	if err != nil {
		return nil, err
	}
	server, err := temporal.NewServer(opts...)
	if err != nil {
		return nil, fmt.Errorf("build temporal server: %w", err)
	}
	if err := server.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	logger.started.Store(true)
	t := &Temporal{
		server:   server,
		hostPort: net.JoinHostPort(dialHost(cfg.Host), strconv.Itoa(cfg.Port)),
		logLevel: logger.level,
	}
	if err := t.ready(ctx, cfg); err != nil {
		return nil, errors.Join(err, t.Stop())
	}
	return t, nil
}

// newStores returns the stores cfg asks for, with the data directory created
// when they are SQLite files.
func newStores(cfg TemporalConfig, logger serverLogger) (temporalStores, error) {
	if cfg.Postgres != "" {
		return newPostgresStores(cfg.Postgres, logger)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return temporalStores{}, fmt.Errorf("create temporal data dir: %w", err)
	}
	return newSQLiteStores(cfg.DataDir), nil
}

// HostPort is the frontend address for SDK clients and the Web UI.
func (t *Temporal) HostPort() string { return t.hostPort }

// Stop stops every service of the server. Call it once. It takes about a
// second: the frontend gives in-flight requests, which always include long
// polls, up to a second to finish.
func (t *Temporal) Stop() error {
	// Stopping services warn about each other's closed connections and, on
	// PostgreSQL, log errors for the queries their shutdown cancels
	// (Temporal's own server test lists them as expected). Nothing a
	// stopping server logs is actionable; a failed stop is the error
	// returned here.
	t.logLevel.Set(slog.LevelError + 1)
	if err := t.server.Stop(); err != nil {
		return fmt.Errorf("stop temporal server: %w", err)
	}
	return nil
}

// ready waits until the frontend describes the namespace, then registers the
// search attributes.
func (t *Temporal) ready(ctx context.Context, cfg TemporalConfig) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	c, err := t.awaitFrontend(ctx, cfg.Namespace)
	if err != nil {
		return err
	}
	defer c.Close()
	return worker.RegisterSearchAttributes(ctx, c.OperatorService(), cfg.Namespace, cfg.SearchAttributes)
}

func (t *Temporal) awaitFrontend(ctx context.Context, namespace string) (client.Client, error) {
	quiet := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: t.hostPort, Namespace: namespace, Logger: quiet})
		if err == nil {
			_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
			if err == nil {
				return c, nil
			}
			c.Close()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for temporal frontend %s to serve namespace %s: %w", t.hostPort, namespace, err)
		case <-time.After(pollInterval):
		}
	}
}
