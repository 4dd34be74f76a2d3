package console

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/store"
)

// trends are the overview's charts: the last hour a minute a bar, the last
// day ten minutes a bar.
type trends struct {
	Hour, Day trendWindow
}

// trendWindow is one window's charts and totals.
type trendWindow struct {
	ID    string
	Title string
	// Charts are the four flows, then the backlog.
	Charts []chart
	// Totals are the flows over the window; Backlog the last sampled
	// backlog, at BacklogAt (nil when no minute was sampled).
	Totals    store.Flow
	Backlog   []statusCount
	BacklogAt *time.Time
}

// chart is one SVG bar chart, laid out in Go so that the template only
// draws: a column per minute or bucket, a bar (or a stack of bars) in it.
type chart struct {
	ID, Title string
	// Total sums the columns, for the caption; the backlog has none.
	Total    int64
	HasTotal bool
	Max      int64
	Columns  []column
	Ticks    []tick
	Legend   []legendItem
}

// column is one minute or bucket: its tooltip and bars. Gap is true when
// nothing was recorded for it, which is not zero.
type column struct {
	At    string
	N     int64
	Gap   bool
	Title string
	// X and W are the column's place; BarW its bars' width.
	X, W, BarW float64
	Bars       []bar
}

type bar struct {
	Class string
	Y, H  float64
}

type tick struct {
	X     float64
	Label string
}

type legendItem struct{ Class, Label string }

// Box is the charts' geometry, for the template's axes.
func (chart) Box() box { return chartBox }

// box is where a chart draws, in SVG user units: the whole is W by H, the
// plot Left to Right and Top to Bottom (PlotH high), the y labels end at
// LabelX, the x ticks reach down to TickY and their labels sit on LabelY.
type box struct{ W, H, Left, Right, Top, Bottom, PlotH, LabelX, TickY, LabelY float64 }

// The charts' geometry, in SVG user units: the plot is plotW by plotH,
// plotLeft from the left for the y labels, with the x labels below.
const (
	chartW   = 720
	chartH   = 128
	plotLeft = 40
	plotTop  = 8
	plotW    = chartW - plotLeft - 8
	plotH    = 100
)

var chartBox = box{W: chartW, H: chartH, Left: plotLeft, Right: plotLeft + plotW, Top: plotTop, Bottom: plotTop + plotH, PlotH: plotH, LabelX: plotLeft - 4, TickY: plotTop + plotH + 4, LabelY: chartH - 4}

// flowSeries are the flow charts, in order, with their CSS class.
var flowSeries = []struct {
	id, name, class string
	field           func(*store.Flow) *int64
}{
	{"prepared", "prepared or sent", "s-prepared", func(f *store.Flow) *int64 { return &f.Prepared }},
	{"published", "published", "s-published", func(f *store.Flow) *int64 { return &f.Published }},
	{"completed", "completed", "s-completed", func(f *store.Flow) *int64 { return &f.Completed }},
	{"dead", "went DEAD", "s-dead", func(f *store.Flow) *int64 { return &f.Dead }},
}

// trendBucket is the day chart's column width: 144 columns stay readable.
const trendBucket = 10

// readTrends reads the overview's trends at now: the hour's flows from the
// messages' own times (they include the minute under way), the day's and
// the backlog from the minute samples.
func (c *Console) readTrends(ctx context.Context, now time.Time) (trends, error) {
	now = now.UTC()
	hourFrom := now.Truncate(time.Minute).Add(-59 * time.Minute)
	flows, err := c.store.FlowsPerMinute(ctx, hourFrom, 60)
	if err != nil {
		return trends{}, err
	}
	dayFrom := now.Truncate(trendBucket * time.Minute).Add(-(24*60 - trendBucket) * time.Minute)
	samples, err := c.store.Samples(ctx, dayFrom, 24*60)
	if err != nil {
		return trends{}, err
	}
	hourSamples := samples[int(hourFrom.Sub(dayFrom)/time.Minute):]
	hour := make([]bucket, 60)
	for i := range hour {
		hour[i] = bucket{At: hourFrom.Add(time.Duration(i) * time.Minute), Minutes: 1, Flow: flows[i], FlowKnown: true}
		if i < len(hourSamples) && hourSamples[i] != nil {
			hour[i].Backlog, hour[i].Sampled = hourSamples[i].Backlog, 1
		}
	}
	day := make([]bucket, 24*60/trendBucket)
	for i := range day {
		b := &day[i]
		b.At, b.Minutes = dayFrom.Add(time.Duration(i*trendBucket)*time.Minute), trendBucket
		for _, sm := range samples[i*trendBucket : (i+1)*trendBucket] {
			if sm == nil {
				continue
			}
			b.Sampled++
			b.FlowKnown = true
			b.Flow.Prepared += sm.Prepared
			b.Flow.Published += sm.Published
			b.Flow.Completed += sm.Completed
			b.Flow.Dead += sm.Dead
			b.Backlog = sm.Backlog
		}
	}
	return trends{
		Hour: window("trend-hour", "Last hour, per minute", hour, func(t time.Time) bool { return t.Minute()%15 == 0 }),
		Day:  window("trend-day", "Last day, per 10 minutes (from the minute samples)", day, func(t time.Time) bool { return t.Minute() == 0 && t.Hour()%3 == 0 }),
	}, nil
}

// bucket is one column's data: Minutes minutes from At, Sampled of them
// sampled. FlowKnown is false for a bucket with no flows recorded.
type bucket struct {
	At        time.Time
	Minutes   int
	Flow      store.Flow
	FlowKnown bool
	Backlog   map[wire.Status]int64
	Sampled   int
}

// label is how a column names its time in a tooltip.
func (b bucket) label() string {
	if b.Minutes == 1 {
		return b.At.Format("15:04") + " UTC"
	}
	return b.At.Format("15:04") + "–" + b.At.Add(time.Duration(b.Minutes)*time.Minute).Format("15:04") + " UTC"
}

// coverage says how much of a bucket was sampled, when not all of it.
func (b bucket) coverage() string {
	if b.Minutes == 1 || b.Sampled == b.Minutes {
		return ""
	}
	return fmt.Sprintf(" (%d of %d minutes sampled)", b.Sampled, b.Minutes)
}

// window lays out the charts of buckets, labelling the x axis at the
// columns whose start ticks.
func window(id, title string, buckets []bucket, ticks func(time.Time) bool) trendWindow {
	w := trendWindow{ID: id, Title: title}
	var axis []tick
	colW := float64(plotW) / float64(len(buckets))
	for i, b := range buckets {
		if ticks(b.At) {
			axis = append(axis, tick{X: round2(plotLeft + float64(i)*colW), Label: b.At.Format("15:04")})
		}
	}
	for _, fs := range flowSeries {
		ch := chart{ID: id + "-" + fs.id, Title: fs.name, HasTotal: true, Ticks: axis}
		for i, b := range buckets {
			col := newColumn(b, i, colW)
			if !b.FlowKnown {
				col.Gap, col.Title = true, b.label()+": no sample (no gateway was running)"
			} else {
				col.N = *fs.field(&b.Flow)
				col.Title = fmt.Sprintf("%s: %d %s%s", b.label(), col.N, fs.name, b.coverage())
				col.Bars = []bar{{Class: fs.class, H: float64(col.N)}}
				ch.Total += col.N
			}
			ch.Max = max(ch.Max, col.N)
			ch.Columns = append(ch.Columns, col)
		}
		w.Charts = append(w.Charts, scale(ch))
		*fs.field(&w.Totals) = ch.Total
	}
	backlog := chart{ID: id + "-backlog", Title: "backlog by status", Ticks: axis}
	for _, st := range store.Backlog {
		backlog.Legend = append(backlog.Legend, legendItem{Class: "s-" + string(st), Label: string(st)})
	}
	for i, b := range buckets {
		col := newColumn(b, i, colW)
		if b.Sampled == 0 {
			col.Gap, col.Title = true, b.label()+": no sample (no gateway was running)"
		} else {
			var parts []string
			for _, st := range store.Backlog {
				if n := b.Backlog[st]; n > 0 {
					col.N += n
					parts = append(parts, fmt.Sprintf("%d %s", n, st))
					col.Bars = append(col.Bars, bar{Class: "s-" + string(st), H: float64(n)})
				}
			}
			if len(parts) == 0 {
				parts = []string{"none"}
			}
			col.Title = fmt.Sprintf("%s: backlog %d: %s", b.label(), col.N, strings.Join(parts, ", "))
			at := b.At
			w.BacklogAt, w.Backlog = &at, nil
			for _, st := range store.Backlog {
				w.Backlog = append(w.Backlog, statusCount{st, b.Backlog[st]})
			}
		}
		backlog.Max = max(backlog.Max, col.N)
		backlog.Columns = append(backlog.Columns, col)
	}
	w.Charts = append(w.Charts, scale(backlog))
	return w
}

// scale turns the bars' values (in H) into heights on the plot, stacking
// a column's bars from the bottom.
func scale(ch chart) chart {
	top := max(ch.Max, 1)
	for i := range ch.Columns {
		col := &ch.Columns[i]
		y := float64(plotTop + plotH)
		for j := range col.Bars {
			h := col.Bars[j].H / float64(top) * plotH
			y -= h
			col.Bars[j].Y, col.Bars[j].H = round2(y), round2(h)
		}
	}
	return ch
}

// newColumn is the i-th column of buckets colW wide, leaving a sliver
// between bars.
func newColumn(b bucket, i int, colW float64) column {
	return column{
		At: b.At.Format(time.RFC3339),
		X:  round2(plotLeft + float64(i)*colW), W: round2(colW),
		BarW: round2(max(colW-1, colW*0.75)),
	}
}

// round2 keeps two decimals: the SVG stays short and exact enough.
func round2(v float64) float64 { return math.Round(v*100) / 100 }
