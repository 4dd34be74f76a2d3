package conformance

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/conformance/protocol"
	"github.com/courier-mq/courier/client/internal/devcourier"
	"github.com/courier-mq/courier/client/internal/testdb"
)

// Target is what one run of a scenario runs on.
type Target struct {
	// Adapter is the adapter's command line.
	Adapter []string
	DB      testdb.DB
	// Mode is the adapter's mode (its hello lists them), Isolation
	// read_committed, serializable or "" (the database's default).
	Mode      string
	Isolation string
	Courier   *devcourier.Courier
}

// Tables the runner creates in each scenario's database; the adapters
// write them.
const (
	barrierTable = "courier_barrier"
	dedupeTable  = "courier_dedupe"
	effectSQL    = "INSERT INTO conformance_effects (ref, message_id) VALUES (?, ?)"
	consumedSQL  = "INSERT INTO conformance_consumed (consumer, message_id, attempt) VALUES (?, ?, ?)"
)

// settleWithin bounds the wait for messages to reach their final status:
// several check-backs and resends under devcourier's fast policy.
const settleWithin = 60 * time.Second

// run is one scenario on one target.
type run struct {
	t       *testing.T
	sc      Scenario
	tg      Target
	db      *database
	token   string
	topic   string
	courier *client.Client
	proxy   *proxy
	kafka   *kafkaView

	mu       sync.Mutex
	adapters map[string]*adapterState
	calls    map[string]*call
	checks   map[string]chan string
	answers  []answer
	sends    map[string]string
	txs      map[string]*sql.Tx
	execs    map[string]chan error
}

// adapterState is one named adapter: its process (replaced on restart) and
// how it was opened.
type adapterState struct {
	name   string
	log    *devcourier.Output
	open   protocol.Request
	opened protocol.Opened

	// mu guards proc: the proxy kills it from its own goroutine.
	mu   sync.Mutex
	proc *process
}

// current is the adapter's process now.
func (a *adapterState) current() *process {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.proc
}

// call is one transaction request.
type call struct {
	ref    string
	msgID  string
	done   chan struct{}
	result protocol.TxResult
	values map[string]string
}

// named is what a step names in one of the run's maps (calls, checks,
// statements), looked up under r.mu; kind says which in the error.
func named[V any](r *run, m map[string]V, kind, name string) (V, error) {
	r.mu.Lock()
	v, ok := m[name]
	r.mu.Unlock()
	if !ok {
		var zero V
		return zero, fmt.Errorf("no %s %q", kind, name)
	}
	return v, nil
}

// answer is a check-back answer the runner got.
type answer struct{ msgID, status string }

// Run runs scenario sc on tg and checks its invariants.
func Run(t *testing.T, sc Scenario, tg Target) {
	token := strings.ToLower(rand.Text()[:8])
	r := &run{
		t: t, sc: sc, tg: tg, token: token, topic: "conformance-" + token,
		courier:  tg.Courier.Client(t),
		db:       newDatabase(t, tg.DB),
		adapters: map[string]*adapterState{}, calls: map[string]*call{}, checks: map[string]chan string{},
		sends: map[string]string{}, txs: map[string]*sql.Tx{}, execs: map[string]chan error{},
	}
	var err error
	if r.proxy, err = newProxy(tg.Courier.URL); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.proxy)
	t.Cleanup(srv.Close)
	// After the adapters are gone (cleanups run last first), so that a
	// statement of the runner's waiting on their locks ends: an open
	// transaction would keep the database from being dropped.
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, tx := range r.txs {
			_ = tx.Rollback()
		}
	})
	t.Cleanup(func() {
		for _, a := range r.adapters {
			a.current().kill()
			if t.Failed() {
				t.Logf("adapter %s's log:\n%s", a.name, a.log.String())
			}
		}
	})
	if sc.readsKafka() {
		r.kafka = newKafkaView(t, tg.Courier.Kafka)
	}
	if sc.Partitions > 0 {
		if err := r.kafka.createTopic(r.topic, sc.Partitions); err != nil {
			t.Fatal(err)
		}
	}
	r.startAdapter("a", srv.URL)
	for i, st := range sc.Steps {
		if len(st.Only) > 0 && !slices.Contains(st.Only, tg.DB.Name) {
			continue
		}
		if err := r.step(st, srv.URL); err != nil {
			t.Fatalf("step %d (%s): %v", i+1, st.Do, err)
		}
	}
	r.checkInvariants()
}

// id is the message id of scenario-local id local: unique to this run, as
// every run shares one Courier.
func (r *run) id(local string) string { return r.token + "-" + local }

func (r *run) adapter(name string) (*adapterState, error) {
	if name == "" {
		name = "a"
	}
	return named(r, r.adapters, "adapter", name)
}

// startAdapter starts adapter name, says hello and opens it on the
// scenario's database.
func (r *run) startAdapter(name, proxyURL string) {
	r.t.Helper()
	a := &adapterState{name: name, log: &devcourier.Output{}, open: protocol.Request{
		Op: "open", Mode: r.tg.Mode, Dialect: r.tg.DB.Name, URL: r.db.url, Isolation: r.tg.Isolation,
		CourierURL: proxyURL + "/" + name, CheckListen: "127.0.0.1:0", Table: barrierTable,
		DedupeTable: dedupeTable, EffectSQL: effectSQL, Producer: "conformance", FoundRows: r.sc.FoundRows,
	}}
	r.mu.Lock()
	r.adapters[name] = a
	r.mu.Unlock()
	if err := r.launch(a); err != nil {
		r.t.Fatal(err)
	}
	// A restart listens where Courier already sends the check-backs.
	u, err := url.Parse(a.opened.CheckURL)
	if err != nil {
		r.t.Fatalf("check_url %q: %v", a.opened.CheckURL, err)
	}
	a.open.CheckListen = u.Host
}

// launch starts a's process and opens it.
func (r *run) launch(a *adapterState) error {
	p, err := startProcess(r.tg.Adapter, a.log)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.proc = p
	a.mu.Unlock()
	var hello protocol.Hello
	if err := p.call(protocol.Request{Op: "hello"}, &hello); err != nil {
		return err
	}
	if !slices.Contains(hello.Modes, r.tg.Mode) {
		return fmt.Errorf("adapter %s has no mode %q (modes %v)", hello.Client, r.tg.Mode, hello.Modes)
	}
	return p.call(a.open, &a.opened)
}

// step does one step.
func (r *run) step(st Step, proxyURL string) error {
	switch st.Do {
	case "transaction":
		if err := r.transaction(st); err != nil || len(st.Outcome) == 0 {
			return err
		}
		return r.await(st)
	case "await":
		return r.await(st)
	case "check":
		return r.check(st)
	case "await_check":
		return r.awaitCheck(st)
	case "courier_checks":
		return r.courierChecks(st)
	case "expect_isolation":
		c, err := named(r, r.calls, "call", st.Ref)
		if err != nil {
			return err
		}
		have := strings.NewReplacer("-", "_", " ", "_").Replace(strings.ToLower(c.values["isolation"]))
		if want := r.tg.Isolation; want != "" && have != want {
			return fmt.Errorf("call %s ran at isolation %q, want %s", st.Ref, c.values["isolation"], want)
		}
		return nil
	case "kill_connection":
		c, err := named(r, r.calls, "call", st.Ref)
		if err != nil {
			return err
		}
		if c.values["conn"] == "" {
			return fmt.Errorf("call %q reported no connection id at a gate", st.Ref)
		}
		return r.db.killConnection(c.values["conn"])
	case "proxy":
		return r.arm(st)
	case "wait_group":
		return r.kafka.waitStable(r.id(st.Name), st.Count)
	case "start_adapter":
		r.startAdapter(st.Adapter, proxyURL)
		return nil
	case "cleanup":
		return r.cleanup(st)
	case "db_begin", "db_exec", "db_await", "db_commit":
		return r.dbStep(st)
	case "lock_waiters":
		return r.db.waitLockWaiters(st.Count)
	case "send":
		return r.send(st)
	}
	// The other steps act on one adapter.
	a, err := r.adapter(st.Adapter)
	if err != nil {
		return err
	}
	return r.adapterStep(st, a)
}

// adapterStep does step st on adapter a.
func (r *run) adapterStep(st Step, a *adapterState) error {
	p := a.current()
	switch st.Do {
	case "wait_gate":
		ev, err := p.waitGate(st.Gate)
		if err != nil {
			return err
		}
		r.mu.Lock()
		if c, ok := r.calls[ev.Ref]; ok {
			c.values = ev.Values
			c.msgID = ev.MessageID
		}
		r.mu.Unlock()
		return nil
	case "release":
		return p.call(protocol.Request{Op: "release", Gate: st.Gate}, nil)
	case "cancel":
		return p.call(protocol.Request{Op: "cancel", Ref: st.Ref}, nil)
	case "kill":
		p.kill()
		return nil
	case "freeze", "resume":
		sig := syscall.SIGSTOP
		if st.Do == "resume" {
			sig = syscall.SIGCONT
		}
		return p.signal(sig)
	case "wait_exit":
		select {
		case <-p.exited:
			return nil
		case <-time.After(settleWithin):
			return errors.New("the adapter did not exit")
		}
	case "restart":
		p.kill()
		return r.launch(a)
	case "consume":
		var fail []string
		for _, local := range st.Fail {
			fail = append(fail, r.id(local))
		}
		return p.call(protocol.Request{
			Op: "consume", Ref: st.Ref, Name: r.id(st.Name), Topics: []string{r.topic},
			Brokers: []string{r.tg.Courier.Kafka}, Attempts: st.Attempts,
			Handler: &protocol.Handler{EffectSQL: consumedSQL, FailIDs: fail, FailSends: st.FailSends},
		}, nil)
	case "stop_consumer":
		return p.call(protocol.Request{Op: "stop_consumer", Ref: st.Ref}, nil)
	}
	return fmt.Errorf("unknown step %q", st.Do)
}

// transaction starts call st.Ref; await collects its outcome.
func (r *run) transaction(st Step) error {
	a, err := r.adapter(st.Adapter)
	if err != nil {
		return err
	}
	req := protocol.Request{Op: "transaction", Ref: st.Ref, Reuse: st.Reuse}
	c := &call{ref: st.Ref, done: make(chan struct{})}
	if st.Reuse != "" {
		prev, err := named(r, r.calls, "call", st.Reuse)
		if err != nil {
			return fmt.Errorf("reuse: %w", err)
		}
		c.msgID = prev.msgID
	} else {
		m := protocol.Message{Topic: r.topic, Payload: "{}"}
		if st.Message != nil {
			m = *st.Message
			if m.Topic == "" {
				m.Topic = r.topic
			}
			if m.Payload == "" {
				m.Payload = "{}"
			}
			if m.ID != "" {
				m.ID = r.id(m.ID)
				c.msgID = m.ID
			}
		}
		req.Message = &m
	}
	for _, b := range st.Business {
		if len(b.Only) > 0 && !slices.Contains(b.Only, r.tg.DB.Name) {
			continue
		}
		s := b.TxStep
		switch s.SQL {
		case "@connection_id":
			s.SQL = r.db.connectionIDQuery()
		case "@isolation":
			s.SQL = r.db.isolationQuery()
		}
		req.Steps = append(req.Steps, s)
	}
	r.mu.Lock()
	if _, dup := r.calls[st.Ref]; dup {
		r.mu.Unlock()
		return fmt.Errorf("call %q made twice", st.Ref)
	}
	r.calls[st.Ref] = c
	r.mu.Unlock()
	answer := a.current().send(req)
	go func() {
		resp := <-answer
		switch {
		case resp.Error == errKilled.Error():
			c.result = protocol.TxResult{Outcome: protocol.Killed}
		case resp.Error != "":
			c.result = protocol.TxResult{Outcome: protocol.Error, Error: "protocol error: " + resp.Error}
		default:
			if err := json.Unmarshal(resp.Result, &c.result); err != nil {
				c.result = protocol.TxResult{Outcome: protocol.Error, Error: err.Error()}
			}
		}
		close(c.done)
	}()
	return nil
}

// await waits for call st.Ref and checks its outcome.
func (r *run) await(st Step) error {
	c, err := named(r, r.calls, "call", st.Ref)
	if err != nil {
		return err
	}
	select {
	case <-c.done:
	case <-time.After(settleWithin):
		return fmt.Errorf("call %s did not answer", st.Ref)
	}
	r.mu.Lock()
	if c.result.MessageID != "" {
		c.msgID = c.result.MessageID
	}
	r.mu.Unlock()
	if !st.Outcome.allows(string(c.result.Outcome)) {
		return fmt.Errorf("call %s: outcome %s (%s), want %v", st.Ref, c.result.Outcome, c.result.Error, []string(st.Outcome))
	}
	return nil
}

// messageOf is the message id of a call or send ref, or st.ID.
func (r *run) messageOf(st Step) (string, error) {
	if st.ID != "" {
		return r.id(st.ID), nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.calls[st.Ref]; ok && c.msgID != "" {
		return c.msgID, nil
	}
	if id, ok := r.sends[st.Ref]; ok {
		return id, nil
	}
	return "", fmt.Errorf("no message id known for %q: give the message an id", st.Ref)
}

// cleanup calls the adapter's cleanup with the retention st.Retention
// names: "floor", "under_floor" (a millisecond less) or "year".
func (r *run) cleanup(st Step) error {
	a, err := r.adapter(st.Adapter)
	if err != nil {
		return err
	}
	ms := map[string]int64{"floor": a.opened.RetentionFloorMS, "under_floor": a.opened.RetentionFloorMS - 1, "year": 365 * 24 * 3600 * 1000}[st.Retention]
	if ms <= 0 {
		return fmt.Errorf("retention %q is not floor, under_floor or year (floor %d ms)", st.Retention, a.opened.RetentionFloorMS)
	}
	err = a.current().call(protocol.Request{Op: "cleanup", RetentionMS: ms}, nil)
	got := "ok"
	if err != nil {
		got = "refused"
	}
	if !st.Outcome.allows(got) {
		return fmt.Errorf("cleanup with retention %s: %s (%v), want %v", st.Retention, got, err, []string(st.Outcome))
	}
	return nil
}

// courierChecks waits until Courier has checked back st.Count times on the
// message of st.Ref.
func (r *run) courierChecks(st Step) error {
	id, err := r.messageOf(st)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(settleWithin)
	for {
		v, err := r.courier.Get(context.Background(), id)
		if err == nil && v.CheckCount >= st.Count {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("message %s: %d check-backs (%v), want %d", id, v.CheckCount, err, st.Count)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// arm adds a proxy rule for adapter st.Adapter's call st.Path ("confirm",
// "cancel", "complete") of st.Ref's or st.ID's message, or of any message
// when the step names none: st.Action "kill" kills the adapter when it is
// sent, "fail" answers it 503.
func (r *run) arm(st Step) error {
	id := ""
	if st.ID != "" || st.Ref != "" {
		var err error
		if id, err = r.messageOf(st); err != nil {
			return err
		}
	}
	a, err := r.adapter(st.Adapter)
	if err != nil {
		return err
	}
	ru := &rule{adapter: a.name, id: id, action: st.Path}
	switch st.Action {
	case "kill":
		ru.kill = func() { a.current().kill() }
	case "fail":
	default:
		return fmt.Errorf("unknown proxy action %q", st.Action)
	}
	r.proxy.add(ru)
	return nil
}
