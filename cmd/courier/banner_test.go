package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/store"
)

// countingWriter records each Write separately.
type countingWriter struct{ writes []string }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// TestBannerIsOneWrite: the banner goes out in one write, so that a log line
// of the running stack never lands inside it and a reader that sees its first
// line sees all of it (a test read the first line before the Web UI's once).
func TestBannerIsOneWrite(t *testing.T) {
	cfg := &Config{HTTPAddr: ":8080", TemporalAddress: "127.0.0.1:7233", TemporalNamespace: "default",
		KafkaBrokers: "127.0.0.1:9092", Store: store.Config{Driver: store.DriverSQLite, DSN: "/data/courier.db"}}
	var w countingWriter
	printBanner(&w, cfg, "/data", "http://127.0.0.1:8233")
	require.Len(t, w.writes, 1, "banner written in pieces: %q", w.writes)
	banner := w.writes[0]
	for _, want := range []string{"Courier dev stack is running (data in /data)", "http://127.0.0.1:8080/console/",
		"temporal ui   http://127.0.0.1:8233", "kafka         127.0.0.1:9092", "Press Ctrl-C to stop"} {
		require.Contains(t, banner, want)
	}
	require.True(t, strings.HasSuffix(banner, "\n"))
}
