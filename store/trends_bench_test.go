package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

// BenchmarkTrendQueries measures what the overview's trends cost on a
// mirror of a million messages (COURIER_TREND_BENCH_ROWS changes it), all
// created in the last day, the worst case for the hour's window: ~694 a
// minute, 90% COMPLETED, 4% DEAD, 3% WAITING_CONFIRM, 3% DELIVERED. The
// day's minute samples are there too. Per backend (SQLite, and MySQL or
// MariaDB when storetest finds one) it reports:
//
//   - hour-flows: FlowsPerMinute over the last hour, the overview's live
//     query (~41,700 rows in the window);
//   - day-samples: Samples over the day, 1440 minutes of samples;
//   - sample-minute: SampleMinute, the sampler's work each minute (a
//     minute's flows, the backlog of 100,000 messages by status, the
//     insert-if-absent and the retention delete).
//
// One run is the measurement:
//
//	go test ./store -run '^$' -bench TrendQueries -benchtime 3x
func BenchmarkTrendQueries(b *testing.B) {
	rows := benchRows(b, "COURIER_TREND_BENCH_ROWS")
	for _, backend := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{{store.DriverSQLite, storetest.NewSQLite}, {store.DriverMySQL, storetest.NewMySQL}} {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.open(b)
			now := time.Now().UTC().Truncate(time.Minute)
			fillTrendBench(b, s, rows, now)
			ctx := b.Context()
			b.Run("hour-flows", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.FlowsPerMinute(ctx, now.Add(-59*time.Minute), 60); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("day-samples", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Samples(ctx, now.Add(-24*time.Hour), 24*60); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("sample-minute", func(b *testing.B) {
				minute := now
				for b.Loop() {
					minute = minute.Add(-time.Minute)
					if _, err := s.SampleMinute(ctx, minute); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// fillTrendBench writes rows messages spread evenly over the day before
// now, and a sample for each of the day's minutes but the last ten.
func fillTrendBench(b *testing.B, s *store.Store, rows int, now time.Time) {
	b.Helper()
	start := time.Now()
	from := now.Add(-24 * time.Hour)
	step := 24 * time.Hour / time.Duration(rows)
	const chunk = 1000
	for i := 0; i < rows; i += chunk {
		var sb strings.Builder
		sb.WriteString("INSERT INTO messages (id, topic, payload, producer, status, created_at, published_at, completed_at, updated_at, revision) VALUES ")
		args := make([]any, 0, chunk*9)
		for j := i; j < min(i+chunk, rows); j++ {
			created := from.Add(time.Duration(j) * step).Truncate(time.Millisecond)
			published, updated := created.Add(time.Second), created.Add(2*time.Second)
			var status wire.Status
			var pub, done *time.Time
			switch r := j % 100; {
			case r < 90:
				status, pub, done = wire.StatusCompleted, &published, &updated
			case r < 94:
				status, pub, updated = wire.StatusDead, &published, created.Add(time.Minute)
			case r < 97:
				status, updated = wire.StatusWaitingConfirm, created
			default:
				status, pub, updated = wire.StatusDelivered, &published, published
			}
			if j > i {
				sb.WriteString(",")
			}
			sb.WriteString("(?, 'orders', '{}', 'bench', ?, ?, ?, ?, ?, 1)")
			args = append(args, fmt.Sprintf("m-%08d", j), status, created, pub, done, updated)
		}
		if err := s.DB().Exec(sb.String(), args...).Error; err != nil {
			b.Fatal(err)
		}
	}
	inserted := time.Since(start)
	var sb strings.Builder
	var args []any
	series := []string{"prepared", "published", "completed", "dead"}
	for _, st := range store.Backlog {
		series = append(series, string(st))
	}
	flush := func() {
		if len(args) == 0 {
			return
		}
		if err := s.DB().Exec("INSERT INTO trend_samples (minute, series, n) VALUES "+strings.TrimSuffix(sb.String(), ","), args...).Error; err != nil {
			b.Fatal(err)
		}
		sb.Reset()
		args = args[:0]
	}
	for m := from; m.Before(now.Add(-10 * time.Minute)); m = m.Add(time.Minute) {
		for i, name := range series {
			sb.WriteString("(?, ?, ?),")
			args = append(args, m, name, int64(i*100))
		}
		if len(args) > 3000 {
			flush()
		}
	}
	flush()
	b.Logf("inserted %d messages in %s, and a day's samples in %s", rows, inserted.Round(time.Second), (time.Since(start) - inserted).Round(time.Millisecond))
}
