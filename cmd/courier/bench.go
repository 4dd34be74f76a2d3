package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/courier-mq/courier/app"
	"github.com/courier-mq/courier/bench"
)

// BenchConfig is what `courier bench` reads: the benchmark's shape and where
// the Courier under test runs.
type BenchConfig struct {
	bench.Config
	// JSON prints the report as one JSON object instead of markdown.
	JSON bool
	// Temporal and Namespace are the Temporal frontend and namespace Courier
	// runs in; Kafka its brokers, comma-separated.
	Temporal  string
	Namespace string
	Kafka     string
}

// register declares the bench flags on fs.
func (b *BenchConfig) register(fs *flag.FlagSet) {
	fs.IntVar(&b.Messages, "n", 1000, "messages to send through the lifecycle (and bare and floor workflows in the baseline)")
	fs.IntVar(&b.Concurrency, "c", 32, "concurrent producers, completers and baseline starters")
	fs.Float64Var(&b.DirectRatio, "direct-ratio", 0.2, "share of messages sent directly instead of prepared and confirmed, 0-1")
	fs.Float64Var(&b.Rate, "rate", 0, "messages started per second; 0 is as fast as possible")
	fs.BoolVar(&b.JSON, "json", false, "print the report as one JSON object")
	fs.StringVar(&b.Gateway, "gateway", "http://127.0.0.1:8080", "base URL of the Courier gateway")
	fs.StringVar(&b.Temporal, "temporal", "127.0.0.1:7233", "Temporal frontend host:port Courier runs on")
	fs.StringVar(&b.Namespace, "namespace", "default", "Temporal namespace Courier runs in")
	fs.StringVar(&b.Kafka, "kafka", "127.0.0.1:9092", "Kafka brokers, comma-separated")
	fs.IntVar(&b.WorkerPID, "worker-pid", 0, "process id of the worker (for courier dev, the dev process) to sample RSS and CPU")
	fs.Func("cpu-pid", "another Courier process (a Temporal server, a worker, a gateway) whose CPU counts in the CPU per message; repeatable", func(v string) error {
		pid, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("not a process id: %q", v)
		}
		b.CPUPIDs = append(b.CPUPIDs, pid)
		return nil
	})
	fs.IntVar(&b.Soak, "soak", 0, "hold this many messages in DELIVERED and measure beside them (a probe of -n messages)")
	fs.BoolVar(&b.SoakRelease, "soak-release", true, "complete the held messages when the soak ends")
	fs.BoolVar(&b.BaselineOnly, "baseline-only", false, "run only the bare-workflow baseline against --temporal")
	fs.BoolVar(&b.NoBaseline, "no-baseline", false, "skip the baseline (bare and floor workflows)")
	fs.IntVar(&b.HistorySample, "history-sample", 20, "completed workflows whose history events are counted")
	fs.DurationVar(&b.Timeout, "timeout", 0, "bound on the whole run (default 30m)")
}

// validate checks the bench flags and derives Brokers from Kafka.
func (b *BenchConfig) validate() error {
	var errs []error
	if b.Temporal == "" {
		errs = append(errs, errors.New("temporal is required"))
	}
	if b.Namespace == "" {
		errs = append(errs, errors.New("namespace is required"))
	}
	b.Brokers = splitList(b.Kafka)
	if len(b.Brokers) == 0 && !b.BaselineOnly {
		errs = append(errs, errors.New("kafka is required"))
	}
	cfg := b.Config
	cfg.SetDefaults()
	errs = append(errs, cfg.Validate())
	return errors.Join(errs...)
}

// runBench is `courier bench`: it runs the benchmark against a running
// Courier and prints the report, markdown by default.
func runBench(ctx context.Context, cfg *Config, logger *slog.Logger, stdout, stderr io.Writer) error {
	b := cfg.Bench
	c, err := app.DialTemporal(ctx, b.Temporal, b.Namespace, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	report, err := bench.Run(ctx, b.Config, bench.Deps{Temporal: c, Progress: stderr, Logger: logger})
	if report != nil {
		write := report.WriteMarkdown
		if b.JSON {
			write = report.WriteJSON
		}
		err = errors.Join(err, write(stdout))
	}
	return err
}
