package store_test

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

// BenchmarkPurgeMillionRows measures retention on a MySQL/MariaDB mirror of
// a million rows (COURIER_PURGE_BENCH_ROWS changes it): 90% settled long
// ago, 5% settled recently, 5% DEAD, DELIVERED or WAITING_CONFIRM. It
// reports the time to delete the old settled rows in batches of 1000, the
// rows per second, the slowest batch (how long one batch holds its locks),
// and the list queries' latency before and after. One run is the
// measurement:
//
//	go test ./store -run '^$' -bench PurgeMillionRows -benchtime 1x
func BenchmarkPurgeMillionRows(b *testing.B) {
	rows := benchRows(b, "COURIER_PURGE_BENCH_ROWS")
	s := storetest.NewMySQL(b)
	ctx := b.Context()
	now := time.Now().UTC()
	old, recent := now.Add(-40*24*time.Hour), now.Add(-time.Hour)
	start := time.Now()
	const chunk = 2000
	for i := 0; i < rows; i += chunk {
		var sb strings.Builder
		sb.WriteString("INSERT INTO messages (id, topic, payload, producer, status, created_at, updated_at, revision) VALUES ")
		args := make([]any, 0, chunk*5)
		for j := i; j < min(i+chunk, rows); j++ {
			status, at := wire.StatusCompleted, old
			switch r := j % 100; {
			case r < 45:
			case r < 90:
				status = wire.StatusCancelled
			case r < 95:
				at = recent
			case r < 97:
				status = wire.StatusDead
			case r < 99:
				status = wire.StatusDelivered
			default:
				status = wire.StatusWaitingConfirm
			}
			if j > i {
				sb.WriteString(",")
			}
			sb.WriteString("(?, 'orders', '{}', 'bench', ?, ?, ?, 1)")
			args = append(args, fmt.Sprintf("m-%08d", j), status, at.Add(-time.Minute), at)
		}
		if err := s.DB().Exec(sb.String(), args...).Error; err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("inserted %d rows in %s", rows, time.Since(start).Round(time.Second))

	listLatency := func() (all, dead time.Duration) {
		measure := func(f store.Filter) time.Duration {
			var d []time.Duration
			for range 21 {
				t0 := time.Now()
				if _, err := s.List(ctx, f); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(t0))
			}
			sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
			return d[len(d)/2]
		}
		return measure(store.Filter{Limit: 50}), measure(store.Filter{Status: wire.StatusDead, Limit: 50})
	}
	allBefore, deadBefore := listLatency()

	b.ResetTimer()
	cutoff := now.Add(-30 * 24 * time.Hour)
	var deleted int64
	var slowest time.Duration
	t0 := time.Now()
	for {
		bt := time.Now()
		n, err := s.PurgeSettled(ctx, cutoff, 1000)
		if err != nil {
			b.Fatal(err)
		}
		slowest = max(slowest, time.Since(bt))
		deleted += n
		if n < 1000 {
			break
		}
	}
	took := time.Since(t0)
	b.StopTimer()
	allAfter, deadAfter := listLatency()

	var left int64
	if err := s.DB().Table("messages").Count(&left).Error; err != nil {
		b.Fatal(err)
	}
	if want := int64(rows) - deleted; left != want {
		b.Fatalf("%d rows left, want %d", left, want)
	}
	b.ReportMetric(float64(deleted), "rows-deleted")
	b.ReportMetric(float64(deleted)/took.Seconds(), "rows/s")
	b.ReportMetric(float64(slowest.Microseconds())/1000, "ms-slowest-batch")
	b.Logf("deleted %d of %d rows in %s (%.0f rows/s), slowest batch %s; list newest 50: %s before, %s after; list DEAD: %s before, %s after",
		deleted, rows, took.Round(time.Millisecond), float64(deleted)/took.Seconds(), slowest.Round(time.Millisecond),
		allBefore.Round(time.Microsecond), allAfter.Round(time.Microsecond), deadBefore.Round(time.Microsecond), deadAfter.Round(time.Microsecond))
}

// benchRows is how many messages a million-row benchmark writes: a million,
// or what the environment variable env says (a quick try of the benchmark).
func benchRows(b *testing.B, env string) int {
	v := os.Getenv(env)
	if v == "" {
		return 1_000_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number of rows", env, v)
	}
	return n
}
