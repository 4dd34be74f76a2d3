package chaos

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
)

var long = flag.Bool("long", false, "run bigger scenarios with 30 s outages (also COURIER_CHAOS_LONG=1)")

// scale is the size of a run: messages per scenario and outage length.
type scale struct {
	messages int
	outage   time.Duration
}

// runScale is the default scale, or the long one with -long or
// COURIER_CHAOS_LONG=1; COURIER_CHAOS_MESSAGES overrides the message count.
func runScale() scale {
	sc := scale{messages: 500, outage: 10 * time.Second}
	if *long || os.Getenv("COURIER_CHAOS_LONG") == "1" {
		sc = scale{messages: 2000, outage: 30 * time.Second}
	}
	if n, err := strconv.Atoi(os.Getenv("COURIER_CHAOS_MESSAGES")); err == nil && n > 0 {
		sc.messages = n
	}
	return sc
}

// suite is what every scenario shares: the courier binary and the summary.
type suite struct {
	bin string

	mu   sync.Mutex
	rows []Row
}

func (s *suite) add(r Row) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows = append(s.rows, r)
}

// table formats the summary of every scenario run.
func (s *suite) table() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows := slices.Clone(s.rows)
	slices.SortFunc(rows, func(a, b Row) int { return strings.Compare(a.Scenario, b.Scenario) })
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "scenario\tmessages\tfaults injected\tdeliveries\tduplicates\tprocessed once\tcheck-backs\tre-driven\tsettled by operator\tcomplete 409s\trecords read back\tlost\tconverged in\tfinal states")
	for _, r := range rows {
		var states []string
		for _, st := range wire.Statuses {
			if n := r.Statuses[st]; n > 0 {
				states = append(states, fmt.Sprintf("%s=%d", st, n))
			}
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.Scenario, r.Messages, r.Faults,
			r.Deliveries, r.Duplicates, r.Processed, r.CheckCalls, r.Redriven, r.Settled, r.Rejected, r.Records, r.Lost,
			r.Converge.Round(100*time.Millisecond), strings.Join(states, " "))
	}
	_ = w.Flush()
	return b.String()
}

// chaos is the suite of this test binary, set up by TestMain.
var chaos = &suite{}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Only the proxy and kcat tests run; they need no courier binary.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "courier-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	chaos.bin, err = BuildCourier(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if len(chaos.rows) > 0 {
		fmt.Printf("\nchaos summary\n%s\n", chaos.table())
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// setup starts a stack and the messages of one scenario.
func setup(t *testing.T, name string, completions []Completion, misbs []Misbehaviour) (*Stack, []Message, scale) {
	t.Helper()
	if testing.Short() {
		t.Skip("chaos scenarios do not run with -short")
	}
	sc := runScale()
	s := NewStack(t, chaos.bin, Policy())
	return s, Mix(name, sc.messages, Kinds, completions, misbs), sc
}

// usual is the downstream's behaviour in scenarios about other faults:
// mostly prompt, some twice, some late.
var usual = []Completion{CompleteOnce, CompleteOnce, CompleteTwice, CompleteLate}

func run(t *testing.T, s *Stack, p Plan) {
	t.Helper()
	row := Run(t, s, p)
	chaos.add(row)
	t.Logf("%s: %d messages, faults: %s, %d deliveries (%d duplicates), converged %s after the last fault",
		row.Scenario, row.Messages, row.Faults, row.Deliveries, row.Duplicates, row.Converge.Round(100*time.Millisecond))
}

func TestWorkerKilled(t *testing.T) {
	t.Parallel()
	s, msgs, _ := setup(t, "1-worker-kill", usual, []Misbehaviour{Truthful})
	run(t, s, Plan{Name: "1-worker-kill", Messages: msgs, Faults: killWorker(4)})
}

func TestTemporalRestarted(t *testing.T) {
	t.Parallel()
	s, msgs, _ := setup(t, "2-temporal-restart", usual, []Misbehaviour{Truthful})
	run(t, s, Plan{Name: "2-temporal-restart", Messages: msgs, Faults: restartTemporal(2)})
}

func TestKafkaOutage(t *testing.T) {
	t.Parallel()
	s, msgs, sc := setup(t, "3-kafka", usual, []Misbehaviour{Truthful})
	run(t, s, Plan{Name: "3-kafka", Messages: msgs, Faults: kafkaFaults(sc.outage)})
}

func TestMySQLOutage(t *testing.T) {
	t.Parallel()
	s, msgs, sc := setup(t, "4-mysql", usual, []Misbehaviour{Truthful})
	if s.MySQL == nil {
		t.Skip("no MySQL server: the mirror is SQLite, which has no network to break")
	}
	var cutFrom, cutTo time.Time
	faults := func(ctx context.Context, s *Stack) error {
		if err := hold(ctx, s.MySQL, []step{{Pass, 2 * time.Second}}); err != nil {
			return err
		}
		cutFrom = time.Now()
		if err := hold(ctx, s.MySQL, []step{{Cut, sc.outage}}); err != nil {
			return err
		}
		cutTo = time.Now()
		return hold(ctx, s.MySQL, mysqlAfterCut)
	}
	run(t, s, Plan{Name: "4-mysql", Messages: msgs, Faults: faults})
	// The mirror is a copy: while it cannot be written, messages must still
	// reach Kafka. The first second is left out, for the publishes already
	// under way when the cut began.
	during := deliveriesBetween(s.Downstream, cutFrom.Add(time.Second), cutTo)
	require.Positive(t, during, "no message reached Kafka while the mirror database was cut off (%s)", cutTo.Sub(cutFrom))
	t.Logf("4-mysql: %d deliveries while the mirror was cut off for %s", during, cutTo.Sub(cutFrom).Round(time.Second))
	// The writes of that run shared transactions (store.Grouper), the
	// default on MySQL: the outage above was survived with them.
	shared := workerMetric(t, s, "courier_mirror_shared_transactions_total")
	require.Positive(t, shared, "no mirror writes shared a transaction")
	t.Logf("4-mysql: %.0f shared mirror transactions", shared)
}

// workerMetric is the value of the worker process's metric name.
func workerMetric(t *testing.T, s *Stack, name string) float64 {
	t.Helper()
	resp, err := http.Get(s.WorkerMetrics)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err, line)
			return f
		}
	}
	t.Fatalf("no %s in the worker's metrics:\n%s", name, body)
	return 0
}

// deliveriesBetween counts the records the downstream received in [from, to].
func deliveriesBetween(d *Downstream, from, to time.Time) int {
	n := 0
	for _, id := range d.SeenIDs() {
		for _, del := range d.Seen(id) {
			if !del.At.Before(from) && !del.At.After(to) {
				n++
			}
		}
	}
	return n
}

func TestCheckBackFaults(t *testing.T) {
	t.Parallel()
	s, msgs, _ := setup(t, "5-check-back", usual, []Misbehaviour{Truthful, Slow, ServerError, Garbage})
	run(t, s, Plan{Name: "5-check-back", Messages: msgs, Faults: checkBackFaults})
}

func TestDownstreamFaults(t *testing.T) {
	t.Parallel()
	completions := []Completion{CompleteOnce, CompleteNever, CompleteAfterRedrive, CompleteTwice, CompleteLate}
	s, msgs, _ := setup(t, "6-downstream", completions, []Misbehaviour{Truthful})
	run(t, s, Plan{Name: "6-downstream", Messages: msgs, Faults: func(context.Context, *Stack) error { return nil }})
}

// TestDevKilled kills `courier dev`, the whole embedded stack in one process,
// with SIGKILL while messages flow, and starts it again on its data directory.
func TestDevKilled(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("chaos scenarios do not run with -short")
	}
	sc := runScale()
	s := NewDevStack(t, chaos.bin, Policy())
	msgs := Mix("8-dev-kill", sc.messages, Kinds, usual, []Misbehaviour{Truthful})
	run(t, s, Plan{Name: "8-dev-kill", Messages: msgs, Faults: killDev(devKills())})
}

// devKills is how often TestDevKilled kills `courier dev`: 2, or
// COURIER_CHAOS_DEV_KILLS.
func devKills() int {
	if n, err := strconv.Atoi(os.Getenv("COURIER_CHAOS_DEV_KILLS")); err == nil && n > 0 {
		return n
	}
	return 2
}

func TestEverythingAtOnce(t *testing.T) {
	t.Parallel()
	completions := []Completion{CompleteOnce, CompleteNever, CompleteAfterRedrive, CompleteTwice, CompleteLate}
	misbs := []Misbehaviour{Truthful, Slow, ServerError, Garbage}
	s, msgs, sc := setup(t, "7-everything", completions, misbs)
	faults := []func(context.Context, *Stack) error{killWorker(2), restartTemporal(1), kafkaFaults(sc.outage), checkBackFaults}
	if s.MySQL != nil {
		faults = append(faults, mysqlFaults(sc.outage))
	}
	run(t, s, Plan{Name: "7-everything", Messages: msgs, Faults: func(ctx context.Context, s *Stack) error {
		errs := make(chan error, len(faults))
		for _, f := range faults {
			go func() { errs <- f(ctx, s) }()
		}
		var first error
		for range faults {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		return first
	}})
}

// killWorker kills the worker process with SIGKILL n times at random
// moments, restarting it after a random pause each time.
func killWorker(n int) func(context.Context, *Stack) error { return killProcess(n, false) }

// killDev kills the whole `courier dev` process with SIGKILL n times, each
// time at a random moment after it became ready, and starts it again on the
// same data directory after a random pause; it returns once the last start
// is ready.
func killDev(n int) func(context.Context, *Stack) error { return killProcess(n, true) }

// killProcess kills s.Worker n times and restarts it each time; with
// waitReady, each kill waits for the gateway to answer /readyz first, so
// that it hits a running stack rather than one still starting.
func killProcess(n int, waitReady bool) func(context.Context, *Stack) error {
	ready := func(ctx context.Context, s *Stack) error {
		if !waitReady {
			return nil
		}
		return s.Gateway.Ready(ctx, devReadyTimeout)
	}
	return func(ctx context.Context, s *Stack) error {
		for range n {
			if err := ready(ctx, s); err != nil {
				return err
			}
			if err := sleep(ctx, time.Second+rand.N(3*time.Second)); err != nil {
				return err
			}
			if err := s.Worker.Kill(); err != nil {
				return err
			}
			if err := sleep(ctx, 200*time.Millisecond+rand.N(time.Second)); err != nil {
				return err
			}
			if err := s.Worker.Start(); err != nil {
				return err
			}
		}
		return ready(ctx, s)
	}
}

// restartTemporal restarts the Temporal server n times mid-run, down for 2 s
// each time.
func restartTemporal(n int) func(context.Context, *Stack) error {
	return func(ctx context.Context, s *Stack) error {
		for range n {
			if err := sleep(ctx, 2*time.Second+rand.N(2*time.Second)); err != nil {
				return err
			}
			if err := s.RestartTemporal(ctx, 2*time.Second); err != nil {
				return err
			}
		}
		return nil
	}
}

// kafkaFaults makes Kafka unreachable for outage, then restarts the broker
// from its data directory, then black-holes it for 3 s.
func kafkaFaults(outage time.Duration) func(context.Context, *Stack) error {
	return func(ctx context.Context, s *Stack) error {
		steps := []step{{Pass, 2 * time.Second}, {Cut, outage}, {Pass, 3 * time.Second}}
		if err := hold(ctx, s.Broker.Proxy, steps); err != nil {
			return err
		}
		if err := s.Broker.Restart(); err != nil {
			return err
		}
		return hold(ctx, s.Broker.Proxy, []step{{Pass, 3 * time.Second}, {BlackHole, 3 * time.Second}, {Pass, 0}})
	}
}

// mysqlAfterCut follows a cut of the mirror database: it comes back, then
// every connection is reset at once.
var mysqlAfterCut = []step{{Pass, 2 * time.Second}, {Reset, 500 * time.Millisecond}, {Pass, 0}}

// mysqlFaults makes the mirror database unreachable for outage, then resets
// its connections once.
func mysqlFaults(outage time.Duration) func(context.Context, *Stack) error {
	return func(ctx context.Context, s *Stack) error {
		return hold(ctx, s.MySQL, append([]step{{Pass, 2 * time.Second}, {Cut, outage}}, mysqlAfterCut...))
	}
}

// checkBackFaults takes the producer's check-back endpoint down, makes it
// slower than the check timeout, resets and black-holes its connections.
func checkBackFaults(ctx context.Context, s *Stack) error {
	return hold(ctx, s.Checks, []step{{Pass, time.Second}, {Cut, 1500 * time.Millisecond}, {Delay, 1500 * time.Millisecond}, {Reset, time.Second}, {BlackHole, 1500 * time.Millisecond}, {Pass, 0}})
}

// step is one mode of a proxy and how long it is held.
type step struct {
	mode Mode
	hold time.Duration
}

// hold puts p through each step.
func hold(ctx context.Context, p *Proxy, steps []step) error {
	for _, st := range steps {
		if err := p.Set(st.mode, 1500*time.Millisecond); err != nil {
			return err
		}
		if err := sleep(ctx, st.hold); err != nil {
			return err
		}
	}
	return nil
}

func TestPolicyIsValid(t *testing.T) {
	t.Parallel()
	require.NoError(t, Policy().Validate())
}
