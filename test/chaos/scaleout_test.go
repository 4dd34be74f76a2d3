package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/courier-mq/courier/bench"
)

// BenchmarkScaleOut runs `courier bench` (1,000 messages, 32 at a time, with
// its bare-workflow baseline) against the production shape with one worker
// and with two, and with 1, 4 and 8 history shards: the numbers of
// docs/performance.md's scale-out section. One run is the measurement:
//
//	go test ./test/chaos -run '^$' -bench ScaleOut -benchtime 1x
func BenchmarkScaleOut(b *testing.B) {
	tbin, err := BuildTemporalServer(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	var rows []string
	for _, c := range []ProductionConfig{{Shards: 8, Workers: 1}, {Shards: 8, Workers: 2}, {Shards: 4, Workers: 2}, {Shards: 1, Workers: 2}} {
		c.Open = true
		b.Run(fmt.Sprintf("shards=%d/workers=%d", c.Shards, c.Workers), func(b *testing.B) {
			p := NewProductionStack(b, chaos.bin, tbin, c)
			r, err := bench.Run(context.Background(), bench.Config{
				Messages: 1000, Concurrency: 32, DirectRatio: 0.2,
				Gateway: p.base, Brokers: strings.Split(p.Kafka.ListenAddrs()[0], ","), Partitions: partitions,
				Timeout: 10 * time.Minute,
			}, bench.Deps{Temporal: p.Client, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			l, base := r.Lifecycle, r.Baseline
			b.ReportMetric(l.PerSec, "msg/s")
			b.ReportMetric(base.PerSec, "bare-workflows/s")
			row := fmt.Sprintf("| %d | %d | %.1f | %.1f | %.2f | %d | %.2f → %.2f |", c.Shards, c.Workers, l.PerSec, base.PerSec, r.Ratio, l.Failed, r.LoadBefore, r.LoadAfter)
			rows = append(rows, row)
			b.Log(row)
		})
	}
	b.Logf("\n| shards | workers | Courier msg/s | bare workflows/s | ratio | failed | load |\n|---|---|---|---|---|---|---|\n%s", strings.Join(rows, "\n"))
}
