package devstack

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger hands the Temporal server's log lines at or above level to a
// slog.Logger. The level starts at Warn: the server logs every service start,
// shard acquisition and membership change at Info, which drowns a dev
// terminal. Debug and Info are never passed on.
type serverLogger struct {
	log   *slog.Logger
	level *slog.LevelVar
	// started is set once the server's Start has returned; see Fatal.
	started *atomic.Bool
}

var _ log.Logger = serverLogger{}

func newServerLogger(l *slog.Logger) serverLogger {
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	return serverLogger{log: l, level: level, started: new(atomic.Bool)}
}

// routineWarnings are warnings the server logs about what a dev stack does
// all the time and which need no action, so they are not passed on.
var routineWarnings = map[string]bool{
	// The Web UI asks for history pages larger than the frontend serves,
	// for every workflow it shows; the frontend serves its maximum (a
	// constant: no dynamic config raises it) and the UI pages on. It was 12
	// of 65 lines after a few minutes in the UI.
	"GetHistory page size is larger than threshold": true,
}

func (serverLogger) Debug(string, ...tag.Tag) {}
func (serverLogger) Info(string, ...tag.Tag)  {}

func (l serverLogger) Warn(msg string, tags ...tag.Tag) {
	if routineWarnings[msg] {
		return
	}
	l.emit(slog.LevelWarn, msg, tags)
}
func (l serverLogger) Error(msg string, tags ...tag.Tag) { l.emit(slog.LevelError, msg, tags) }

// DPanic and Panic log at error level and return: an embedded server must
// not panic the process that hosts the rest of Courier.
func (l serverLogger) DPanic(msg string, tags ...tag.Tag) { l.emit(slog.LevelError, msg, tags) }
func (l serverLogger) Panic(msg string, tags ...tag.Tag)  { l.emit(slog.LevelError, msg, tags) }

// Fatal, while the server starts, logs at error level and exits the process
// with status 1, as the server's own logger does: the server's start-up
// code relies on Fatal not returning (a gRPC listener it could not create
// is logged as fatal and then used, nil), so a Fatal that returned turned a
// port taken between the start's check and the server's listen into a
// nil-pointer panic and a stack trace. Once started, a Fatal (a serve loop
// ending while the server stops, say) logs at error level and returns, so
// that the embedded server never ends the process hosting the rest of
// Courier, or a test.
func (l serverLogger) Fatal(msg string, tags ...tag.Tag) {
	if l.started.Load() {
		l.emit(slog.LevelError, msg, tags)
		return
	}
	attrs := make([]slog.Attr, len(tags))
	for i, t := range tags {
		attrs[i] = slog.Any(t.Key(), t.Value())
	}
	l.log.LogAttrs(context.Background(), slog.LevelError, msg, attrs...)
	os.Exit(1)
}

func (l serverLogger) emit(level slog.Level, msg string, tags []tag.Tag) {
	ctx := context.Background()
	if level < l.level.Level() || !l.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, len(tags))
	for i, t := range tags {
		attrs[i] = slog.Any(t.Key(), t.Value())
	}
	l.log.LogAttrs(ctx, level, msg, attrs...)
}
