package chaos

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"golang.org/x/sync/errgroup"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
)

// settlePer500 bounds how long a scenario of 500 messages may take to
// settle after its last fault; bigger scenarios get proportionally longer.
const settlePer500 = 3 * time.Minute

// loadConcurrency is how many producers send messages at once.
const loadConcurrency = 16

// Plan is one chaos scenario: the messages, and the faults injected while
// they are sent and processed.
type Plan struct {
	Name     string
	Messages []Message
	// Faults runs beside the load and returns once every fault has been
	// healed; what it injected shows in the summary.
	Faults func(ctx context.Context, s *Stack) error
}

// Row is one scenario's line of the summary table.
type Row struct {
	Scenario   string
	Messages   int
	Faults     string
	Deliveries int
	Duplicates int
	Processed  int
	CheckCalls int64
	// Redriven and Settled count the operator's re-drives of DEAD messages
	// and confirms or cancels of CHECK_EXHAUSTED ones.
	Redriven, Settled int
	// Rejected counts completes answered with 409 (see Downstream.Rejected).
	Rejected int
	// Records counts the records of the topic read back at the end, Lost the
	// committed messages or received records missing from it.
	Records, Lost int
	Converge      time.Duration
	Statuses      map[wire.Status]int
}

// Run sends the plan's messages through s while its faults run, waits for
// every message to settle, checks the invariants and returns the summary row.
// A violated invariant fails t.
func Run(t *testing.T, s *Stack, p Plan) Row {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	byID := map[string]Message{}
	for _, m := range p.Messages {
		byID[m.ID] = m
		s.Producer.Record(m.ID, m.Kind.outcome(), m.Misb)
		s.Downstream.Expect(m.ID, m.Completion)
	}

	var g errgroup.Group
	g.Go(func() error { return load(ctx, s, p) })
	g.Go(func() error { return p.Faults(ctx, s) })
	operated := operator(ctx, s, p.Messages)
	require.NoError(t, g.Wait())
	healed := time.Now()

	limit := settlePer500 * time.Duration(max(1, (len(p.Messages)+499)/500))
	statuses, err := converge(ctx, s, byID, limit)
	require.NoError(t, err, "scenario %s did not settle within %s", p.Name, limit)
	row := Row{Scenario: p.Name, Messages: len(p.Messages), Converge: time.Since(healed), Statuses: statuses}
	cancel()
	op := <-operated
	require.NoError(t, op.err)
	row.Redriven, row.Settled = op.redriven, op.settled

	topic := checkInvariants(t, s, byID)
	row.Records, row.Lost = topic.Records, topic.Lost
	row.Deliveries, row.Duplicates, row.Processed = s.Downstream.Stats()
	row.CheckCalls = s.Producer.Calls()
	row.Faults = faultSummary(s)
	rejected := s.Downstream.Rejected()
	row.Rejected = len(rejected)
	// A consumer only completes what it received, which Courier had sent:
	// refusing that complete is a bug, even when the workflow cannot be asked
	// and the gateway's other sources lag it, and even when a lost workflow
	// task left the message published while the workflow's committed state
	// says it is not (the workflow holds such a complete and applies it
	// after its publish; contract.VersionEarlyCompletion).
	require.Empty(t, rejected[:min(len(rejected), 10)], "complete answered 409 for a message the consumer had received")
	return row
}

// load sends every message as its kind says, loadConcurrency at a time.
func load(ctx context.Context, s *Stack, p Plan) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(loadConcurrency)
	for _, m := range p.Messages {
		g.Go(func() error { return send(ctx, s, p.Name, m) })
	}
	return g.Wait()
}

// send is one producer's part for m: prepare or send, then the decision.
func send(ctx context.Context, s *Stack, scenario string, m Message) error {
	if m.Kind == Delayed {
		m.DeliverAt = time.Now().Add(time.Second + rand.N(2*time.Second))
	}
	direct := m.Kind == DirectSend || m.Kind == Delayed
	if err := s.Gateway.Prepare(ctx, m.body(s.CheckURL(), scenario), direct); err != nil {
		return fmt.Errorf("prepare %s: %w", m.ID, err)
	}
	signal := ""
	switch m.Kind {
	case Confirmed:
		signal = contract.SignalConfirm
	case Cancelled:
		signal = contract.SignalCancel
	default:
		return nil
	}
	// The local transaction takes a moment.
	if err := sleep(ctx, rand.N(100*time.Millisecond)); err != nil {
		return err
	}
	outcome, err := s.Gateway.Signal(ctx, m.ID, signal)
	if err != nil {
		return fmt.Errorf("%s %s: %w", signal, m.ID, err)
	}
	// accepted (202) is the gateway handing the decision to the workflow as a
	// durable signal when it could not be decided in time (a workflow task
	// failing or slow while faults are injected); the invariants check that
	// the workflow then acted on it. Anything else, a 409 above all, fails.
	if outcome != string(wire.Applied) && outcome != string(wire.Repeated) && outcome != "accepted" {
		return fmt.Errorf("%s %s: outcome %s", signal, m.ID, outcome)
	}
	return nil
}

// operator does what an operator would while the scenario runs, and returns
// how many messages it acted on, or the first error, once ctx ends:
//   - it re-drives every CompleteAfterRedrive message that reaches DEAD,
//     after telling the downstream to complete it from then on;
//   - it settles a message whose every check-back went unanswered (the
//     check-back faults can do that) and is parked in CHECK_EXHAUSTED, by
//     confirming or cancelling it as the producer's transaction went, which
//     is what the operator would look up. A CheckUnknown message stays parked.
func operator(ctx context.Context, s *Stack, msgs []Message) <-chan operatorResult {
	pending := map[string]Message{}
	for _, m := range msgs {
		if m.Kind != CheckUnknown {
			pending[m.ID] = m
		}
	}
	done := make(chan operatorResult, 1)
	go func() {
		var res operatorResult
		defer func() { done <- res }()
		for len(pending) > 0 {
			rows, err := mirrorRows(ctx, s)
			if err != nil && ctx.Err() == nil {
				res.err = err
				return
			}
			for id, m := range pending {
				signal := ""
				switch status := rows[id].Status; {
				case status == wire.StatusDead && m.Completion == CompleteAfterRedrive:
					s.Downstream.Release(id)
					signal = contract.SignalRedrive
					res.redriven++
				case status == wire.StatusCheckExhausted && m.Kind.committed():
					signal = contract.SignalConfirm
					res.settled++
				case status == wire.StatusCheckExhausted:
					signal = contract.SignalCancel
					res.settled++
				case status.Terminal():
					delete(pending, id)
					continue
				default:
					continue
				}
				if _, err := s.Operator.Signal(ctx, id, signal); err != nil {
					if ctx.Err() == nil {
						res.err = fmt.Errorf("operator %s %s: %w", signal, id, err)
					}
					return
				}
				delete(pending, id)
			}
			if sleep(ctx, 500*time.Millisecond) != nil {
				return
			}
		}
	}()
	return done
}

// operatorResult counts what the operator did.
type operatorResult struct {
	redriven, settled int
	err               error
}

// mirrorRows reads every mirror row by id.
func mirrorRows(ctx context.Context, s *Stack) (map[string]models.Message, error) {
	var rows []struct {
		ID, Producer          string
		Status                wire.Status
		SendCount, CheckCount int
	}
	err := s.Store.DB().WithContext(ctx).Table("messages").
		Select("id", "producer", "status", "send_count", "check_count").
		Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("read mirror: %w", err)
	}
	out := make(map[string]models.Message, len(rows))
	for _, r := range rows {
		out[r.ID] = models.Message{ID: r.ID, Producer: r.Producer, Status: r.Status, SendCount: r.SendCount, CheckCount: r.CheckCount}
	}
	return out, nil
}

// converge waits up to limit until every message's mirror row shows its
// expected status and returns the count per status.
func converge(ctx context.Context, s *Stack, byID map[string]Message, limit time.Duration) (map[wire.Status]int, error) {
	deadline := time.Now().Add(limit)
	for {
		rows, err := mirrorRows(ctx, s)
		if err != nil {
			return nil, err
		}
		var stuck []string
		counts := map[wire.Status]int{}
		for id, m := range byID {
			got := rows[id].Status
			counts[got]++
			if got != m.Expected() {
				stuck = append(stuck, fmt.Sprintf("%s (%s, %s completion): %q, want %s", id, m.Kind, completionName(m.Completion), got, m.Expected()))
			}
		}
		if len(stuck) == 0 {
			return counts, nil
		}
		if time.Now().After(deadline) {
			slices.Sort(stuck)
			total := len(stuck)
			stuck = stuck[:min(len(stuck), 20)]
			for i, line := range stuck[:min(len(stuck), 5)] {
				id, _, _ := strings.Cut(line, " ")
				wf, err := readWorkflow(ctx, s, id)
				stuck[i] = fmt.Sprintf("%s; workflow: %+v %v\n  %s", line, wf, err, trace(ctx, s, id))
			}
			return nil, fmt.Errorf("%d messages stuck, e.g.\n%s", total, strings.Join(stuck, "\n"))
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// workflowView is what the workflow itself says about a message.
type workflowView struct {
	Status     wire.Status
	SendCount  int
	CheckCount int
}

// readWorkflow reads a closed workflow's result or an open one's state.
func readWorkflow(ctx context.Context, s *Stack, id string) (workflowView, error) {
	wid := contract.WorkflowID(id)
	desc, err := s.Client.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		return workflowView{}, fmt.Errorf("describe %s: %w", wid, err)
	}
	switch st := desc.GetWorkflowExecutionInfo().GetStatus(); st {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		var res contract.Result
		if err := s.Client.GetWorkflow(ctx, wid, "").Get(ctx, &res); err != nil {
			return workflowView{}, fmt.Errorf("result of %s: %w", wid, err)
		}
		return workflowView{Status: res.Status, SendCount: res.SendCount, CheckCount: res.CheckCount}, nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		v, err := s.Client.QueryWorkflow(ctx, wid, "", contract.QueryState)
		if err != nil {
			return workflowView{}, fmt.Errorf("query %s: %w", wid, err)
		}
		var state contract.State
		if err := v.Get(&state); err != nil {
			return workflowView{}, fmt.Errorf("decode state of %s: %w", wid, err)
		}
		return workflowView{Status: state.Status, SendCount: state.SendCount, CheckCount: state.CheckCount}, nil
	default:
		return workflowView{}, fmt.Errorf("workflow %s is %s: it failed, timed out or was terminated", wid, st)
	}
}

// checkInvariants checks, for every message, what the downstream saw, the
// workflow and the mirror row against what the message's kind requires, and
// the topic read back whole (checkTopic), whose report it returns.
func checkInvariants(t *testing.T, s *Stack, byID map[string]Message) topicReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rows, err := mirrorRows(ctx, s)
	require.NoError(t, err)

	var mu sync.Mutex
	var violations []string
	violate := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		violations = append(violations, fmt.Sprintf(format, args...))
	}
	for _, id := range s.Downstream.SeenIDs() {
		if _, ok := byID[id]; !ok {
			violate("%q: a record no message of this scenario explains reached Kafka", id)
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		m := byID[id]
		g.Go(func() error {
			checkDeliveries(m, s.Downstream.Seen(id), violate)
			wf, err := readWorkflow(gctx, s, id)
			if err != nil {
				violate("%s: %v", id, err)
				return nil
			}
			row := rows[id]
			if wf.Status != m.Expected() {
				violate("%s (%s): workflow is %s, want %s", id, m.Kind, wf.Status, m.Expected())
			}
			if row.Producer != ProducerName {
				violate("%s: mirror names producer %q, want the key's identity %q", id, row.Producer, ProducerName)
			}
			if row.Status != wf.Status || row.SendCount != wf.SendCount || row.CheckCount != wf.CheckCount {
				violate("%s: mirror says %s/%d sends/%d checks, workflow says %s/%d/%d",
					id, row.Status, row.SendCount, row.CheckCount, wf.Status, wf.SendCount, wf.CheckCount)
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	topic, err := checkTopic(ctx, s, byID, violate)
	if err != nil {
		violate("read the topic back: %v", err)
	}
	committed := 0
	for _, m := range byID {
		if m.Kind.committed() {
			committed++
		}
	}
	if _, _, processed := s.Downstream.Stats(); processed != committed {
		violate("the downstream processed %d messages, want each of the %d committed ones exactly once", processed, committed)
	}
	for _, err := range s.Downstream.Failures() {
		violate("downstream: %v", err)
	}
	if s.Worker.Exited() {
		violate("the %s process died on its own", s.Worker.Name)
	}
	if len(violations) > 0 {
		slices.Sort(violations)
		t.Errorf("%d invariant violations:\n%s", len(violations), strings.Join(violations[:min(len(violations), 40)], "\n"))
	}
	return topic
}

// checkDeliveries checks what reached Kafka for m: a committed message at
// least once, with its key, payload and headers; any other never.
func checkDeliveries(m Message, seen []Delivery, violate func(string, ...any)) {
	if !m.Kind.committed() {
		if len(seen) > 0 {
			violate("%s (%s): never committed, yet reached Kafka %d times", m.ID, m.Kind, len(seen))
		}
		return
	}
	if len(seen) == 0 {
		violate("%s (%s): committed, never reached Kafka", m.ID, m.Kind)
		return
	}
	for _, d := range seen {
		attempt, err := strconv.Atoi(d.Headers[wire.HeaderAttempt])
		switch {
		case d.Key != m.Key || d.Value != m.Payload:
			violate("%s: record key %q payload %q, want %q %q", m.ID, d.Key, d.Value, m.Key, m.Payload)
		case err != nil || attempt < 1:
			violate("%s: record has %s %q", m.ID, wire.HeaderAttempt, d.Headers[wire.HeaderAttempt])
		case d.Headers["chaos-scenario"] == "":
			violate("%s: the producer's own header is missing", m.ID)
		}
	}
}

// faultSummary describes every fault injected into s.
func faultSummary(s *Stack) string {
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(s.Worker.Kills(), s.Worker.Name+" kill -9")
	add(s.TemporalRestarts(), "temporal restart")
	if s.cluster != nil {
		for _, n := range s.cluster.Nodes {
			add(n.Kills(), n.Name+" kill -9")
		}
	}
	for _, p := range s.killed {
		add(p.Kills(), p.Name+" kill -9")
	}
	add(s.brokerRestarts, "kafka broker removed")
	if s.Broker != nil {
		add(s.Broker.Proxy.Faults(), "kafka net fault")
		add(s.Broker.Restarts(), "kafka restart")
	}
	if s.MySQL != nil {
		add(s.MySQL.Faults(), "mysql net fault")
	}
	add(s.Checks.Faults(), "check-back net fault")
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// completionName names a Completion in reports.
func completionName(c Completion) string {
	return [...]string{"once", "twice", "late", "never", "after-redrive"}[c]
}
