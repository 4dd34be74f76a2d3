package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Report is everything one run measured.
type Report struct {
	RunID       string
	StartedAt   time.Time
	Messages    int
	Concurrency int
	DirectRatio float64
	Rate        float64
	// LoadBefore and LoadAfter are the machine's 1-minute load average at the
	// start and the end: numbers from a loaded machine are read as such.
	LoadBefore, LoadAfter float64

	// Baseline is the bare workflows' run, Floor the floor workflows'.
	Baseline  *BaselineResult
	Floor     *BaselineResult
	Lifecycle *LifecycleResult
	// Ratio is the lifecycle's rate over the bare workflows', when both ran.
	Ratio float64
	// FloorRatio is the floor workflows' rate over the bare workflows':
	// what Courier's three calls cost Temporal alone. LifecycleFloorRatio is
	// the lifecycle's over the floor's: what Courier's own work costs on top.
	FloorRatio, LifecycleFloorRatio float64
	// CPUFloorRatio is Courier's CPU per message over its CPU per floor
	// workflow, both of the processes the bench samples (the floor's own
	// worker runs in the bench and is not counted): what Courier's own work
	// costs on top, in CPU.
	CPUFloorRatio float64
	// WholeCPUFloorRatio is the same with the bench's own process counted
	// on both sides: the floor's worker and clients against the lifecycle's
	// producers and consumer, so that a worker's cost is on both.
	WholeCPUFloorRatio float64

	Soak   *SoakResult
	Worker ProcStats
}

// SoakResult is what the soak measured.
type SoakResult struct {
	// Held messages sat in DELIVERED, their completion withheld.
	Held   int
	Failed int64
	// Fill is how long sending them all until the consumer had seen each took.
	Fill time.Duration
	// HeldRSSBytes is the worker's RSS once every message was held, and again
	// after the probe ran beside them.
	HeldRSSBytes, AfterProbeRSSBytes int64
	// Probe is a lifecycle run made while the held messages waited.
	Probe LifecycleResult
	// Release is how long completing the held messages took; zero when they
	// were left held.
	Release time.Duration
}

// ratios sets the ratios of the rates that were measured.
func (r *Report) ratios() {
	rate := func(b *BaselineResult) float64 {
		if b == nil {
			return 0
		}
		return b.PerSec
	}
	lifecycle := 0.0
	if r.Lifecycle != nil {
		lifecycle = r.Lifecycle.PerSec
	}
	bare, floor := rate(r.Baseline), rate(r.Floor)
	if bare > 0 {
		r.Ratio = lifecycle / bare
		r.FloorRatio = floor / bare
	}
	if floor > 0 {
		r.LifecycleFloorRatio = lifecycle / floor
	}
	if l, fl := r.Lifecycle, r.Floor; l != nil && fl != nil && l.Messages > 0 && fl.Workflows > 0 && fl.CPU > 0 {
		r.CPUFloorRatio = (l.CPU.Seconds() / float64(l.Messages)) / (fl.CPU.Seconds() / float64(fl.Workflows))
		if l.BenchCPU > 0 && fl.BenchCPU > 0 {
			r.WholeCPUFloorRatio = ((l.CPU + l.BenchCPU).Seconds() / float64(l.Messages)) /
				((fl.CPU + fl.BenchCPU).Seconds() / float64(fl.Workflows))
		}
	}
}

// fields flattens the report into the JSON object scripts read: one key per
// number, latencies in milliseconds as <stage>_p50_ms and so on.
func (r *Report) fields() map[string]any {
	f := map[string]any{
		"run_id":        r.RunID,
		"started_at":    r.StartedAt.UTC().Format(time.RFC3339),
		"messages":      r.Messages,
		"concurrency":   r.Concurrency,
		"direct_ratio":  r.DirectRatio,
		"rate_limit":    r.Rate,
		"load_before":   r.LoadBefore,
		"load_after":    r.LoadAfter,
		"ratio":         round(r.Ratio, 3),
		"worker_pid":    r.Worker.PID,
		"worker_rss_mb": mb(r.Worker.PeakRSSBytes),
		"worker_hwm_mb": mb(r.Worker.HWMBytes),
		"worker_cpu_s":  round(r.Worker.CPU.Seconds(), 2),
	}
	if b := r.Baseline; b != nil {
		baselineFields(f, "baseline", *b)
	}
	if fl := r.Floor; fl != nil {
		baselineFields(f, "floor", *fl)
		f["floor_ratio"] = round(r.FloorRatio, 3)
		f["lifecycle_floor_ratio"] = round(r.LifecycleFloorRatio, 3)
		if r.CPUFloorRatio > 0 {
			f["cpu_floor_ratio"] = round(r.CPUFloorRatio, 3)
		}
		if r.WholeCPUFloorRatio > 0 {
			f["whole_cpu_floor_ratio"] = round(r.WholeCPUFloorRatio, 3)
			f["floor_whole_cpu_ms_per_workflow"] = perItem(fl.CPU+fl.BenchCPU, fl.Workflows)
		}
	}
	if l := r.Lifecycle; l != nil {
		lifecycleFields(f, "", *l)
		if l.CPU > 0 {
			f["cpu_ms_per_message"] = perItem(l.CPU, l.Messages)
		}
		if l.BenchCPU > 0 {
			f["whole_cpu_ms_per_message"] = perItem(l.CPU+l.BenchCPU, l.Messages)
		}
	}
	if s := r.Soak; s != nil {
		f["soak_held"] = s.Held
		f["soak_failed"] = s.Failed
		f["soak_fill_s"] = round(s.Fill.Seconds(), 1)
		f["soak_held_rss_mb"] = mb(s.HeldRSSBytes)
		f["soak_after_probe_rss_mb"] = mb(s.AfterProbeRSSBytes)
		f["soak_release_s"] = round(s.Release.Seconds(), 1)
		lifecycleFields(f, "probe_", s.Probe)
	}
	return f
}

// baselineFields adds one kind of baseline workflow's fields, each key
// starting with prefix.
func baselineFields(f map[string]any, prefix string, b BaselineResult) {
	f[prefix+"_per_sec"] = round(b.PerSec, 1)
	f[prefix+"_failed"] = b.Failed
	f[prefix+"_elapsed_s"] = round(b.Elapsed.Seconds(), 2)
	f[prefix+"_events_per_workflow"] = round(b.EventsPerWorkflow, 1)
	latencyFields(f, prefix, b.Latency)
	if b.CPU > 0 {
		f[prefix+"_cpu_ms_per_workflow"] = perItem(b.CPU, b.Workflows)
	}
}

func lifecycleFields(f map[string]any, prefix string, l LifecycleResult) {
	f[prefix+"lifecycle_messages"] = l.Messages
	f[prefix+"failed"] = l.Failed
	f[prefix+"elapsed_s"] = round(l.Elapsed.Seconds(), 2)
	f[prefix+"messages_per_sec"] = round(l.PerSec, 1)
	f[prefix+"events_per_message"] = round(l.EventsPerMessage, 1)
	f[prefix+"longest_gap_ms"] = ms(l.LongestGap)
	latencyFields(f, prefix+"prepare", l.Prepare)
	latencyFields(f, prefix+"send", l.Send)
	latencyFields(f, prefix+"confirm", l.Confirm)
	latencyFields(f, prefix+"publish", l.Publish)
	latencyFields(f, prefix+"send_publish", l.SendPublish)
	latencyFields(f, prefix+"consume", l.Consume)
	latencyFields(f, prefix+"complete", l.Complete)
	latencyFields(f, prefix+"e2e", l.EndToEnd)
}

func latencyFields(f map[string]any, stage string, s Summary) {
	f[stage+"_p50_ms"] = ms(s.P50)
	f[stage+"_p95_ms"] = ms(s.P95)
	f[stage+"_p99_ms"] = ms(s.P99)
}

// WriteJSON writes the report as one JSON object on one line.
func (r *Report) WriteJSON(w io.Writer) error {
	if err := json.NewEncoder(w).Encode(r.fields()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteMarkdown writes the report as markdown tables.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## courier bench %s (%s)\n\n", r.RunID, r.StartedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "N=%d C=%d direct=%g rate=%s load %.2f → %.2f\n\n", r.Messages, r.Concurrency, r.DirectRatio, rateText(r.Rate), r.LoadBefore, r.LoadAfter)
	b.WriteString("| metric | value |\n|---|---|\n")
	row := func(name, value string) { fmt.Fprintf(&b, "| %s | %s |\n", name, value) }
	if l := r.Lifecycle; l != nil {
		row("messages/s end to end", fmt.Sprintf("%.1f (%d messages in %.1fs, %d failed)", l.PerSec, l.Messages, l.Elapsed.Seconds(), l.Failed))
	}
	if bl := r.Baseline; bl != nil {
		row("baseline bare workflows/s", fmt.Sprintf("%.1f (%d in %.1fs, %d failed)", bl.PerSec, bl.Workflows, bl.Elapsed.Seconds(), bl.Failed))
		row("baseline events per workflow", fmt.Sprintf("%.1f", bl.EventsPerWorkflow))
	}
	if fl := r.Floor; fl != nil {
		row("floor workflows/s (start, confirm, complete)", fmt.Sprintf("%.1f (%d in %.1fs, %d failed)", fl.PerSec, fl.Workflows, fl.Elapsed.Seconds(), fl.Failed))
		row("floor events per workflow", fmt.Sprintf("%.1f", fl.EventsPerWorkflow))
		row("ratio floor / baseline", fmt.Sprintf("%.2f", r.FloorRatio))
	}
	if r.Lifecycle != nil && r.Baseline != nil {
		row("ratio lifecycle / baseline", fmt.Sprintf("%.2f", r.Ratio))
	}
	if r.Lifecycle != nil && r.Floor != nil {
		row("ratio lifecycle / floor", fmt.Sprintf("%.2f", r.LifecycleFloorRatio))
	}
	if l := r.Lifecycle; l != nil {
		row("history events per message", fmt.Sprintf("%.1f", l.EventsPerMessage))
		row("longest gap with nothing reaching Kafka", msText(l.LongestGap)+" ms")
	}
	if r.Worker.PID != 0 {
		row("worker peak RSS", fmt.Sprintf("%d MB (HWM %d MB)", mb(r.Worker.PeakRSSBytes), mb(r.Worker.HWMBytes)))
		row("worker CPU", fmt.Sprintf("%.1f s", r.Worker.CPU.Seconds()))
	}
	if bl := r.Baseline; bl != nil && bl.CPU > 0 {
		row("Courier CPU per bare workflow", fmt.Sprintf("%.1f ms", perItem(bl.CPU, bl.Workflows)))
	}
	if fl := r.Floor; fl != nil && fl.CPU > 0 {
		row("Courier CPU per floor workflow", fmt.Sprintf("%.1f ms", perItem(fl.CPU, fl.Workflows)))
	}
	if l := r.Lifecycle; l != nil && l.CPU > 0 {
		row("Courier CPU per message", fmt.Sprintf("%.1f ms (%.1f s for %d)", perItem(l.CPU, l.Messages), l.CPU.Seconds(), l.Messages))
	}
	if r.CPUFloorRatio > 0 {
		row("ratio CPU per message / per floor workflow", fmt.Sprintf("%.2f", r.CPUFloorRatio))
	}
	if r.WholeCPUFloorRatio > 0 {
		row("the same with the bench's CPU on both sides", fmt.Sprintf("%.2f", r.WholeCPUFloorRatio))
	}
	if s := r.Soak; s != nil {
		row("soak held in DELIVERED", fmt.Sprintf("%d (%d failed), filled in %.1fs", s.Held, s.Failed, s.Fill.Seconds()))
		row("worker RSS while held", fmt.Sprintf("%d MB, %d MB after the probe", mb(s.HeldRSSBytes), mb(s.AfterProbeRSSBytes)))
		if s.Release > 0 {
			row("release (complete all held)", fmt.Sprintf("%.1fs", s.Release.Seconds()))
		}
	}
	b.WriteString("\n")
	stages := func(title string, l LifecycleResult) {
		fmt.Fprintf(&b, "%s\n\n| latency (ms) | n | p50 | p95 | p99 | max |\n|---|---|---|---|---|---|\n", title)
		for _, st := range []struct {
			name string
			s    Summary
		}{
			{"prepare", l.Prepare}, {"send (direct)", l.Send}, {"confirm", l.Confirm},
			{"confirm → on Kafka", l.Publish}, {"send → on Kafka (direct)", l.SendPublish},
			{"of which produced → consumed", l.Consume},
			{"complete → COMPLETED", l.Complete}, {"end to end", l.EndToEnd},
		} {
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", st.name, st.s.Count, msText(st.s.P50), msText(st.s.P95), msText(st.s.P99), msText(st.s.Max))
		}
		b.WriteString("\n")
	}
	if r.Lifecycle != nil {
		stages("Lifecycle", *r.Lifecycle)
	}
	if r.Soak != nil {
		stages("Probe beside the held messages", r.Soak.Probe)
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func rateText(r float64) string {
	if r == 0 {
		return "max"
	}
	return strconv.FormatFloat(r, 'g', -1, 64) + "/s"
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 1) }

func msText(d time.Duration) string { return strconv.FormatFloat(ms(d), 'f', 1, 64) }

func mb(b int64) int64 { return b >> 20 }

// perItem is cpu per item in milliseconds.
func perItem(cpu time.Duration, items int) float64 {
	if items == 0 {
		return 0
	}
	return round(cpu.Seconds()*1000/float64(items), 2)
}

func round(v float64, places int) float64 {
	s := strconv.FormatFloat(v, 'f', places, 64)
	out, _ := strconv.ParseFloat(s, 64)
	return out
}

// loadAverage is the 1-minute load average, or -1 where /proc/loadavg cannot
// be read.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	first, _, _ := strings.Cut(string(b), " ")
	v, err := strconv.ParseFloat(first, 64)
	if err != nil {
		return -1
	}
	return v
}
