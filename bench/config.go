package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"go.temporal.io/sdk/client"
)

// Config shapes one benchmark run. Zero values take the defaults of
// SetDefaults.
type Config struct {
	// Messages is how many messages the lifecycle run sends, and how many
	// bare workflows the baseline runs. Default 1000.
	Messages int
	// Concurrency is the number of producers, of completers and of baseline
	// starters. Default 32.
	Concurrency int
	// DirectRatio is the share of messages sent directly (POST
	// /v1/messages/send) instead of prepared and confirmed. 0 to 1.
	DirectRatio float64
	// Rate caps the messages started per second; 0 sends as fast as the
	// producers can. The baseline always runs uncapped.
	Rate float64
	// Gateway is the base URL of the Courier gateway. Default
	// http://127.0.0.1:8080.
	Gateway string
	// Brokers are the Kafka bootstrap brokers. Default 127.0.0.1:9092.
	Brokers []string
	// Partitions is the partition count of the run's topic. Default 3.
	Partitions int
	// CheckURL is the check_url of prepared messages. Courier asks it only
	// when a confirm is late (30 s by default), which a healthy run never is.
	// Default http://127.0.0.1:9/courier-bench/check.
	CheckURL string
	// WorkerPID is the worker's process, sampled for RSS and CPU; 0 skips it.
	// For `courier dev` it is the whole of Courier: server, broker, worker
	// and gateway.
	WorkerPID int
	// CPUPIDs are Courier's other processes (a Temporal server of its own,
	// more workers or gateways), whose CPU is counted with the worker's in
	// the CPU per message.
	CPUPIDs []int
	// NoBaseline skips the bare-workflow baseline that otherwise runs before
	// the lifecycle; the report then has no ratio.
	NoBaseline bool
	// BaselineOnly runs only the baseline: how the Temporal server alone
	// compares with another one.
	BaselineOnly bool
	// HistorySample is how many completed workflows have their history
	// counted. Default 20.
	HistorySample int
	// Soak, when positive, runs the soak instead of the lifecycle: this many
	// messages held in DELIVERED.
	Soak int
	// SoakRelease completes the soak's messages at the end, so that they do
	// not stay in DELIVERED on the server.
	SoakRelease bool
	// Timeout bounds the whole run. Default 30 minutes.
	Timeout time.Duration
	// ProgressEvery is how often a progress line is written. Default 2 s.
	ProgressEvery time.Duration
}

// SetDefaults fills every zero field with its default.
func (c *Config) SetDefaults() {
	if c.Messages == 0 {
		c.Messages = 1000
	}
	if c.Concurrency == 0 {
		c.Concurrency = 32
	}
	if c.Gateway == "" {
		c.Gateway = "http://127.0.0.1:8080"
	}
	if len(c.Brokers) == 0 {
		c.Brokers = []string{"127.0.0.1:9092"}
	}
	if c.Partitions == 0 {
		c.Partitions = 3
	}
	if c.CheckURL == "" {
		c.CheckURL = "http://127.0.0.1:9/courier-bench/check"
	}
	if c.HistorySample == 0 {
		c.HistorySample = 20
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Minute
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = 2 * time.Second
	}
}

// Validate reports every problem with a defaulted c.
func (c Config) Validate() error {
	var errs []error
	if c.Messages < 1 {
		errs = append(errs, fmt.Errorf("messages must be positive, got %d", c.Messages))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency must be positive, got %d", c.Concurrency))
	}
	if c.DirectRatio < 0 || c.DirectRatio > 1 {
		errs = append(errs, fmt.Errorf("direct ratio must be between 0 and 1, got %g", c.DirectRatio))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate must not be negative, got %g", c.Rate))
	}
	if u, err := url.Parse(c.Gateway); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("gateway must be an http(s) URL, got %q", c.Gateway))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("partitions must be positive, got %d", c.Partitions))
	}
	if c.Soak < 0 {
		errs = append(errs, fmt.Errorf("soak must not be negative, got %d", c.Soak))
	}
	if c.BaselineOnly && (c.NoBaseline || c.Soak > 0) {
		errs = append(errs, errors.New("baseline-only excludes no-baseline and soak"))
	}
	if c.WorkerPID < 0 {
		errs = append(errs, fmt.Errorf("worker pid must not be negative, got %d", c.WorkerPID))
	}
	for _, pid := range c.CPUPIDs {
		if pid <= 0 {
			errs = append(errs, fmt.Errorf("cpu pids must be positive, got %d", pid))
		}
	}
	if len(c.CPUPIDs) > 0 && c.WorkerPID == 0 {
		errs = append(errs, errors.New("cpu pids are counted with the worker pid, which is missing"))
	}
	return errors.Join(errs...)
}

// Deps are what a run talks to besides the gateway's HTTP API.
type Deps struct {
	// Temporal is a client of the namespace Courier runs in. The baseline
	// runs its own worker on it; history counts and completion waits use it.
	Temporal client.Client
	// HTTP calls the gateway. Default: a client keeping enough idle
	// connections for Config.Concurrency.
	HTTP *http.Client
	// Progress receives a progress line every Config.ProgressEvery; nil
	// writes none.
	Progress io.Writer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (d *Deps) setDefaults(cfg Config) {
	if d.HTTP == nil {
		d.HTTP = &http.Client{
			Timeout: time.Minute,
			Transport: &http.Transport{
				MaxIdleConns:        4 * cfg.Concurrency,
				MaxIdleConnsPerHost: 4 * cfg.Concurrency,
				IdleConnTimeout:     time.Minute,
			},
		}
	}
	if d.Progress == nil {
		d.Progress = io.Discard
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
}
