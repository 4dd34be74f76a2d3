// Command courier runs Courier, the reliable-message service: its HTTP
// gateway, its Temporal worker, or both, against external Temporal, Kafka and
// MySQL; or `courier dev`, everything embedded in one process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `courier: reliable messages between microservices

Usage: courier <command> [flags]

Commands:
  dev          run everything in one process: embedded Temporal + Web UI, Kafka broker,
               SQLite mirror, worker and gateway, durable under --data-dir
  gateway      run the HTTP gateway
  worker       run the Temporal worker (check-back, publish, mirror)
  all          run the gateway and the worker in one process
  migrate      apply the mirror database's schema migrations
  healthcheck  exit 0 when the gateway at --http-addr is ready
  bench        measure a running Courier against a bare-workflow baseline
  replay       replay the cluster's message histories against this binary before a rollout
  apikey       make an API key and its hashed COURIER_API_KEYS entry, or hash a key
  version      print the version

Every flag can also be set with a COURIER_* environment variable; run
'courier <command> -h' to see them.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd := args[0]
	if cmd == "apikey" {
		return runAPIKey(args[1:], os.Stdin, stdout, stderr)
	}
	switch cmd {
	case "dev", "gateway", "worker", "all", "migrate", "healthcheck", "version", "bench", "replay":
	default:
		fmt.Fprintf(stderr, "courier: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	var cfg Config
	fs := newFlagSet(&cfg, cmd)
	fs.SetOutput(stderr)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "courier %s: unexpected arguments %v\n", cmd, fs.Args())
		return 2
	}
	if err := cfg.Validate(cmd); err != nil {
		fmt.Fprintf(stderr, "courier %s: invalid configuration:\n", cmd)
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "  - %s\n", line)
		}
		return 2
	}
	logger := newLogger(&cfg)
	logger.Debug("configuration", "config", cfg.logValue())

	switch cmd {
	case "gateway", "worker", "all", "dev":
		stopTracing, err := startTracing(ctx, logger)
		if err != nil {
			fmt.Fprintf(stderr, "courier %s: %v\n", cmd, err)
			return 1
		}
		defer stopTracing()
	}
	var err error
	switch cmd {
	case "version":
		printVersion(stdout)
	case "healthcheck":
		err = runHealthcheck(ctx, &cfg)
	case "migrate":
		err = runMigrate(ctx, &cfg, logger)
	case "gateway":
		err = runServices(ctx, &cfg, logger, roles{gateway: true})
	case "worker":
		err = runServices(ctx, &cfg, logger, roles{worker: true})
	case "all":
		err = runServices(ctx, &cfg, logger, roles{gateway: true, worker: true})
	case "dev":
		err = runDev(ctx, &cfg, logger, stdout)
	case "bench":
		err = runBench(ctx, &cfg, logger, stdout, stderr)
	case "replay":
		err = runReplay(ctx, &cfg, logger, stdout)
	}
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "courier %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// newFlagSet declares cmd's flags, with defaults from the environment.
func newFlagSet(cfg *Config, cmd string) *flag.FlagSet {
	fs := flag.NewFlagSet("courier "+cmd, flag.ContinueOnError)
	cfg.register(fs, cmd)
	return fs
}
