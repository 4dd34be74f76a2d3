package devstack

import (
	"context"
	"log/slog"

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
}

var _ log.Logger = serverLogger{}

func newServerLogger(l *slog.Logger) serverLogger {
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	return serverLogger{log: l, level: level}
}

func (serverLogger) Debug(string, ...tag.Tag) {}
func (serverLogger) Info(string, ...tag.Tag)  {}

func (l serverLogger) Warn(msg string, tags ...tag.Tag)  { l.emit(slog.LevelWarn, msg, tags) }
func (l serverLogger) Error(msg string, tags ...tag.Tag) { l.emit(slog.LevelError, msg, tags) }

// DPanic, Panic and Fatal log at error level and return: an embedded server
// must not panic or exit the process that hosts the rest of Courier.
func (l serverLogger) DPanic(msg string, tags ...tag.Tag) { l.emit(slog.LevelError, msg, tags) }
func (l serverLogger) Panic(msg string, tags ...tag.Tag)  { l.emit(slog.LevelError, msg, tags) }
func (l serverLogger) Fatal(msg string, tags ...tag.Tag)  { l.emit(slog.LevelError, msg, tags) }

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
