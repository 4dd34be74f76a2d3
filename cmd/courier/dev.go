package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/courier-mq/courier/app"
	"github.com/courier-mq/courier/devstack"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/worker"
)

// runDev is `courier dev`: Temporal with its Web UI, a Kafka-protocol broker,
// the mirror, the worker and the gateway in one process, durable under the
// data directory, so that starting it again resumes every message in flight.
func runDev(ctx context.Context, cfg *Config, logger *slog.Logger, out io.Writer) error {
	dir, err := filepath.Abs(cfg.Dev.DataDir)
	if err != nil {
		return fmt.Errorf("data-dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data-dir: %w", err)
	}
	// The lock first: a second dev on one directory most often has the
	// first's ports too, and the lock names the real conflict.
	unlock, err := lockDataDir(dir)
	if err != nil {
		return err
	}
	stops := []func() error{unlock}
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			if err := stops[i](); err != nil {
				logger.Warn("stop", "error", err)
			}
		}
	}()
	if err := checkDevPorts(cfg); err != nil {
		return err
	}

	uiURL := ""
	cfg.TemporalAddress = cfg.Dev.Temporal
	// gzip between the dev process and a server of its own would only cost
	// CPU; a server given with --temporal gets the SDK's default.
	cfg.TemporalGzip = cfg.TemporalAddress != ""
	if cfg.TemporalAddress == "" {
		t, err := devstack.StartTemporal(ctx, devstack.TemporalConfig{
			DataDir:          filepath.Join(dir, "temporal"),
			Postgres:         cfg.Dev.TemporalPostgres,
			Host:             cfg.Dev.Host,
			Port:             cfg.Dev.TemporalPort,
			Namespace:        cfg.TemporalNamespace,
			SearchAttributes: worker.SearchAttributes(),
			Logger:           logger.With("component", "temporal-server"),
		})
		if err != nil {
			return fmt.Errorf("embedded Temporal: %w", err)
		}
		stops = append(stops, t.Stop)
		cfg.TemporalAddress = t.HostPort()
	}
	if !cfg.Dev.NoUI {
		ui, err := devstack.StartUI(ctx, devstack.UIConfig{
			Host:             cfg.Dev.Host,
			Port:             cfg.Dev.UIPort,
			TemporalHostPort: cfg.TemporalAddress,
			Namespace:        cfg.TemporalNamespace,
		})
		if err != nil {
			return fmt.Errorf("web UI: %w", err)
		}
		stops = append(stops, ui.Stop)
		uiURL = ui.URL()
		cfg.TemporalUIURL = uiURL
	}
	cfg.KafkaBrokers = cfg.Dev.Kafka
	if cfg.KafkaBrokers == "" {
		k, err := devstack.StartKafka(ctx, devstack.KafkaConfig{
			DataDir: filepath.Join(dir, "kafka"),
			Host:    cfg.Dev.Host,
			Port:    cfg.Dev.KafkaPort,
			Logger:  logger.With("component", "kafka"),
		})
		if err != nil {
			return fmt.Errorf("embedded Kafka: %w", err)
		}
		stops = append(stops, k.Close)
		cfg.KafkaBrokers = strings.Join(k.Addrs(), ",")
	}
	if cfg.Dev.MySQL != "" {
		cfg.Store = store.Config{Driver: store.DriverMySQL, DSN: cfg.Dev.MySQL}
		if err := createDatabase(ctx, cfg.Dev.MySQL); err != nil {
			return err
		}
	} else {
		cfg.Store = store.Config{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "courier.db")}
	}

	r := roles{gateway: true, worker: true}
	ar, err := cfg.appRoles(r)
	if err != nil {
		return err
	}
	cfg.DBAutoMigrate = true
	conn, err := app.Connect(ctx, cfg.connectConfig(), true, logger)
	if err != nil {
		return err
	}
	stops = append(stops, conn.Close)

	// The banner says the stack is up: it waits until the gateway (the last
	// part to start) and the profiles listener answer, and a part that fails
	// to start instead ends dev with its error and no banner.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- conn.Run(ctx, ar) }()
	if err := awaitListening(ctx, ran, devURLs(cfg)); err != nil {
		cancel()
		<-ran
		return err
	}
	printBanner(out, cfg, dir, uiURL)
	return <-ran
}

// devURLs are the URLs that answer 200 once every listener of the roles
// dev runs is serving.
func devURLs(cfg *Config) []string {
	urls := []string{"http://" + dialAddr(cfg.HTTPAddr) + "/healthz"}
	if cfg.ProfilesAddr != "" {
		urls = append(urls, "http://"+dialAddr(cfg.ProfilesAddr)+"/debug/pprof/")
	}
	return urls
}

// awaitListening waits until every one of urls answers 200, or the roles
// running since ran was made have stopped (their error, or one saying they
// stopped), or ctx ends.
func awaitListening(ctx context.Context, ran <-chan error, urls []string) error {
	client := &http.Client{Timeout: time.Second}
	for _, u := range urls {
		for !answers(ctx, client, u) {
			select {
			case err := <-ran:
				if err == nil {
					err = errors.New("stopped before listening")
				}
				return err
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

func answers(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// printBanner tells the user where each part of the running stack is, in
// one write: the stack's log lines go to the same terminal and must not land
// inside it.
func printBanner(out io.Writer, cfg *Config, dir, uiURL string) {
	var b strings.Builder
	fmt.Fprintf(&b, "Courier dev stack is running (data in %s)\n", dir)
	fmt.Fprintf(&b, "  gateway       http://%s\n", dialAddr(cfg.HTTPAddr))
	fmt.Fprintf(&b, "  console       http://%s/console/\n", dialAddr(cfg.HTTPAddr))
	fmt.Fprintf(&b, "  temporal      %s (namespace %s)\n", cfg.TemporalAddress, cfg.TemporalNamespace)
	if cfg.Dev.TemporalPostgres != "" {
		fmt.Fprintf(&b, "  temporal db   %s\n", redactURL(cfg.Dev.TemporalPostgres))
	}
	if uiURL != "" {
		fmt.Fprintf(&b, "  temporal ui   %s\n", uiURL)
	}
	fmt.Fprintf(&b, "  kafka         %s\n", cfg.KafkaBrokers)
	fmt.Fprintf(&b, "  mirror        %s %s\n", cfg.Store.Driver, maskDSN(cfg.Store.DSN))
	b.WriteString("Press Ctrl-C to stop; start again to resume every message in flight.\n")
	_, _ = io.WriteString(out, b.String())
}

// dialAddr turns a listen address like ":8080" into one a client can use.
func dialAddr(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "127.0.0.1" + addr
	}
	return addr
}

// redactURL hides the password of a URL that StartTemporal has accepted.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// createDatabase creates the database a dev --mysql DSN names, so that a
// first run needs nothing but a server.
func createDatabase(ctx context.Context, dsn string) error {
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("--mysql: %w", err)
	}
	name := mc.DBName
	if name == "" {
		return errors.New("--mysql: the DSN names no database, e.g. root@tcp(127.0.0.1:3306)/courier")
	}
	mc.DBName = ""
	db, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		return fmt.Errorf("--mysql: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+strings.ReplaceAll(name, "`", "``")+"`"); err != nil {
		return fmt.Errorf("--mysql: create database %s: %w", name, err)
	}
	return nil
}
