package teststack

import (
	"bytes"
	"log/slog"
	"testing"
)

// testLogger logs warnings and errors through t, so they show with the
// failing test, and drops the Temporal SDK's chatty debug and info lines.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testWriter writes each log line with t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
