package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"time"

	"github.com/courier-mq/courier/app"
	"github.com/courier-mq/courier/replay"
)

// ReplayConfig is what only `courier replay` reads.
type ReplayConfig struct {
	ClosedWithin time.Duration
	Limit        int
	Concurrency  int
}

func (r *ReplayConfig) register(fs *flag.FlagSet) {
	fs.DurationVar(&r.ClosedWithin, "closed-within", replay.DefaultClosedWithin, "also replay the messages closed this recently; 0 or less: open ones only")
	fs.IntVar(&r.Limit, "limit", 0, "replay at most this many histories; 0: all")
	fs.IntVar(&r.Concurrency, "concurrency", replay.DefaultConcurrency, "histories fetched and replayed at once")
}

// runReplay is `courier replay`: it replays the message histories of the
// cluster against this binary's workflow code, prints the report and fails
// when any history does not replay.
func runReplay(ctx context.Context, cfg *Config, logger *slog.Logger, stdout io.Writer) error {
	c, err := app.DialTemporal(ctx, cfg.TemporalAddress, cfg.TemporalNamespace, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	closed := cfg.Replay.ClosedWithin
	if closed <= 0 {
		closed = -1
	}
	rep, err := replay.Run(ctx, c, replay.Config{
		Namespace:    cfg.TemporalNamespace,
		ClosedWithin: closed,
		Limit:        cfg.Replay.Limit,
		Concurrency:  cfg.Replay.Concurrency,
	})
	if err != nil {
		return err
	}
	rep.Print(stdout)
	if len(rep.Failures) > 0 {
		return replay.ErrNotReplayable
	}
	return nil
}
