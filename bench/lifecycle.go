package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
)

// benchConsumer is the consumer name the bench completes messages as.
const benchConsumer = "courier-bench"

// message is what the bench knows of one message of a lifecycle run. All
// times are when the bench sent a request or saw an event.
type message struct {
	direct bool
	// start is when its prepare (or send) request was sent.
	start time.Time
	// publishFrom starts the clock of "confirm → on Kafka": when its confirm
	// (or, for a direct send, its send) request was sent.
	publishFrom   time.Time
	seen          time.Time
	completeStart time.Time
	completed     time.Time
	completing    bool
	failed        bool
}

// LifecycleResult is what a lifecycle run measured.
type LifecycleResult struct {
	Messages int
	Failed   int64
	// Elapsed runs from the first prepare to the last COMPLETED.
	Elapsed time.Duration
	// PerSec is COMPLETED messages per second over Elapsed.
	PerSec float64
	// Prepare is POST /v1/messages, Send POST /v1/messages/send, Confirm
	// POST /v1/messages/{id}/confirm: each the HTTP round trip.
	Prepare, Send, Confirm Summary
	// Publish runs from the confirm request to the consumer's receipt of the
	// record, SendPublish from the direct send request to it. A direct
	// send is a start of a workflow whose first task is dispatched through
	// the server's transfer queue, a confirm an update to a workflow a
	// worker already holds; the two are kept apart.
	Publish, SendPublish Summary
	// Consume runs from the record's timestamp, which Courier's producer
	// sets as it hands the record to the client, to the consumer's receipt:
	// the broker's and the consumer's share of Publish.
	Consume Summary
	// Complete runs from the complete request to the workflow's close.
	Complete Summary
	// EndToEnd runs from the prepare (or send) request to the workflow's close.
	EndToEnd Summary
	// LongestGap is the longest time between two messages' arrivals on Kafka
	// (LongestGap): how long the worst stall of the run held everything up.
	LongestGap time.Duration
	// EventsPerMessage is the mean history length of a sample of messages.
	EventsPerMessage float64
	// CPU is what the watched Courier processes used from the first message
	// to the last COMPLETED (and the history sample); 0 when none is watched.
	// BenchCPU is the bench's own process meanwhile: producers and consumer.
	CPU, BenchCPU time.Duration
}

// lifecycle is one lifecycle run: producers over HTTP, a consumer group on
// the run's own topic, and completers that complete what the consumer saw
// (unless hold is set) and wait for each workflow's close.
type lifecycle struct {
	cfg    Config
	deps   Deps
	runID  string
	topic  string
	hold   bool
	policy map[string]any

	mu   sync.Mutex
	msgs []message

	prepared, seen, completed, failed atomic.Int64
	prepare, send, confirm            recorder
	publish, sendPublish, consume     recorder
	complete, endToEnd                recorder

	completeQ chan int
	waits     sync.WaitGroup
	consumer  *consumer
	cancel    context.CancelFunc
	workers   sync.WaitGroup
}

// startLifecycle creates the run's topic, joins the consumer group and starts
// the completers. n messages will be sent by produce.
func startLifecycle(ctx context.Context, cfg Config, deps Deps, runID string, n int, hold bool, policy map[string]any) (*lifecycle, error) {
	ctx, cancel := context.WithCancel(ctx)
	l := &lifecycle{
		cfg:       cfg,
		deps:      deps,
		runID:     runID,
		topic:     "courier-bench-" + runID,
		hold:      hold,
		policy:    policy,
		msgs:      make([]message, n),
		completeQ: make(chan int, n),
		cancel:    cancel,
	}
	c, err := startConsumer(ctx, cfg, l.topic, "courier-bench-"+runID, l.received)
	if err != nil {
		cancel()
		return nil, err
	}
	l.consumer = c
	for range cfg.Concurrency {
		l.workers.Go(func() { l.completer(ctx) })
	}
	return l, nil
}

// close stops the consumer and the completers.
func (l *lifecycle) close() {
	l.cancel()
	l.consumer.close() // no more received calls, so nothing more is queued
	close(l.completeQ)
	l.workers.Wait()
	l.waits.Wait()
}

func (l *lifecycle) id(i int) string { return fmt.Sprintf("%s-%d", l.runID, i) }

// index is the message number of a Courier message id, or -1 when the id is
// not one of this run's.
func (l *lifecycle) index(id string) int {
	rest, ok := strings.CutPrefix(id, l.runID+"-")
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || i >= len(l.msgs) {
		return -1
	}
	return i
}

// produce sends every message with cfg.Concurrency producers, paced at
// cfg.Rate when it is set, and returns when all have been sent.
func (l *lifecycle) produce(ctx context.Context) {
	n := len(l.msgs)
	next := make(chan int, l.cfg.Concurrency)
	go func() {
		defer close(next)
		var tick *time.Ticker
		if l.cfg.Rate > 0 {
			tick = time.NewTicker(time.Duration(float64(time.Second) / l.cfg.Rate))
			defer tick.Stop()
		}
		for i := range n {
			if tick != nil {
				select {
				case <-tick.C:
				case <-ctx.Done():
				}
			}
			next <- i
		}
	}()
	var wg sync.WaitGroup
	for range l.cfg.Concurrency {
		wg.Go(func() {
			for i := range next {
				if ctx.Err() != nil {
					l.fail(i, ctx.Err())
					continue
				}
				l.produceOne(ctx, i)
			}
		})
	}
	wg.Wait()
}

// direct reports whether message i is sent directly: the direct share spread
// evenly over the run.
func (l *lifecycle) direct(i int) bool {
	r := l.cfg.DirectRatio
	return int(float64(i+1)*r) > int(float64(i)*r)
}

func (l *lifecycle) produceOne(ctx context.Context, i int) {
	id := l.id(i)
	direct := l.direct(i)
	body := map[string]any{
		"id":       id,
		"topic":    l.topic,
		"key":      "k" + strconv.Itoa(i%64),
		"payload":  map[string]any{"n": i, "run": l.runID},
		"producer": "courier-bench",
	}
	if !direct {
		body["check_url"] = l.cfg.CheckURL
	}
	if l.policy != nil {
		body["policy"] = l.policy
	}
	path := "/v1/messages"
	if direct {
		path = "/v1/messages/send"
	}
	now := time.Now()
	l.mu.Lock()
	l.msgs[i].direct, l.msgs[i].start = direct, now
	if direct {
		l.msgs[i].publishFrom = now
	}
	l.mu.Unlock()
	if err := l.post(ctx, path, body, http.StatusCreated); err != nil {
		l.fail(i, err)
		return
	}
	if direct {
		l.send.add(time.Since(now))
		l.prepared.Add(1)
		return
	}
	l.prepare.add(time.Since(now))
	l.prepared.Add(1)

	now = time.Now()
	l.mu.Lock()
	l.msgs[i].publishFrom = now
	l.mu.Unlock()
	if err := l.post(ctx, "/v1/messages/"+url.PathEscape(id)+"/confirm", nil, signalSent...); err != nil {
		l.fail(i, err)
		return
	}
	l.confirm.add(time.Since(now))
}

// received is the consumer's callback for every record of the topic.
func (l *lifecycle) received(id string, produced, at time.Time) {
	i := l.index(id)
	if i < 0 {
		return
	}
	l.mu.Lock()
	m := &l.msgs[i]
	first := m.seen.IsZero() && !m.publishFrom.IsZero()
	if first {
		m.seen = at
		if m.direct {
			l.sendPublish.add(at.Sub(m.publishFrom))
		} else {
			l.publish.add(at.Sub(m.publishFrom))
		}
		if !produced.IsZero() {
			l.consume.add(at.Sub(produced))
		}
	}
	enqueue := first && !l.hold && !m.completing
	if enqueue {
		m.completing = true
	}
	l.mu.Unlock()
	if first {
		l.seen.Add(1)
	}
	if enqueue {
		l.completeQ <- i
	}
}

// release completes every held message the consumer has seen.
func (l *lifecycle) release() {
	l.mu.Lock()
	var todo []int
	for i := range l.msgs {
		m := &l.msgs[i]
		if !m.seen.IsZero() && !m.completing && !m.failed {
			m.completing = true
			todo = append(todo, i)
		}
	}
	l.mu.Unlock()
	for _, i := range todo {
		l.completeQ <- i
	}
}

// completer completes queued messages and waits, in the background, for each
// workflow to close: the Temporal client's result long-poll answers the
// moment the workflow closes, without polling the gateway or the mirror.
func (l *lifecycle) completer(ctx context.Context) {
	for i := range l.completeQ {
		id := l.id(i)
		now := time.Now()
		l.mu.Lock()
		l.msgs[i].completeStart = now
		l.mu.Unlock()
		err := l.post(ctx, "/v1/messages/"+url.PathEscape(id)+"/complete", map[string]any{"consumer": benchConsumer}, signalSent...)
		if err != nil {
			l.fail(i, err)
			continue
		}
		l.waits.Go(func() { l.awaitClose(ctx, i) })
	}
}

func (l *lifecycle) awaitClose(ctx context.Context, i int) {
	id := l.id(i)
	var res contract.Result
	err := l.deps.Temporal.GetWorkflow(ctx, contract.WorkflowID(id), "").Get(ctx, &res)
	if err == nil && res.Status != wire.StatusCompleted {
		err = fmt.Errorf("message %s ended %s", id, res.Status)
	}
	if err != nil {
		l.fail(i, err)
		return
	}
	now := time.Now()
	l.mu.Lock()
	m := &l.msgs[i]
	m.completed = now
	l.complete.add(now.Sub(m.completeStart))
	l.endToEnd.add(now.Sub(m.start))
	l.mu.Unlock()
	l.completed.Add(1)
}

// fail marks message i as failed; it no longer holds up the run.
func (l *lifecycle) fail(i int, err error) {
	l.mu.Lock()
	already := l.msgs[i].failed
	l.msgs[i].failed = true
	l.mu.Unlock()
	if !already {
		l.failed.Add(1)
		l.deps.Logger.Warn("bench message failed", "id", l.id(i), "error", err)
	}
}

// await returns when count plus the failures reach every message, or ctx
// ends.
func (l *lifecycle) await(ctx context.Context, count *atomic.Int64) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for count.Load()+l.failed.Load() < int64(len(l.msgs)) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d messages settled: %w", count.Load()+l.failed.Load(), len(l.msgs), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// result summarizes the run; history lengths are counted on a sample of the
// completed messages.
func (l *lifecycle) result(ctx context.Context) (LifecycleResult, error) {
	l.mu.Lock()
	var first, last time.Time
	var done []int
	var seen []time.Time
	for i, m := range l.msgs {
		if !m.seen.IsZero() {
			seen = append(seen, m.seen)
		}
		if !m.start.IsZero() && (first.IsZero() || m.start.Before(first)) {
			first = m.start
		}
		if !m.completed.IsZero() {
			done = append(done, i)
			if m.completed.After(last) {
				last = m.completed
			}
		}
	}
	l.mu.Unlock()
	res := LifecycleResult{
		Messages:    len(l.msgs),
		Failed:      l.failed.Load(),
		Prepare:     l.prepare.summary(),
		Send:        l.send.summary(),
		Confirm:     l.confirm.summary(),
		Publish:     l.publish.summary(),
		SendPublish: l.sendPublish.summary(),
		Consume:     l.consume.summary(),
		Complete:    l.complete.summary(),
		EndToEnd:    l.endToEnd.summary(),
		LongestGap:  LongestGap(seen),
	}
	if len(done) > 0 {
		res.Elapsed = last.Sub(first)
		res.PerSec = float64(len(done)) / res.Elapsed.Seconds()
	}
	sample := sampleIDs(len(done), l.cfg.HistorySample, func(j int) string { return contract.WorkflowID(l.id(done[j])) })
	events, err := meanHistoryLength(ctx, l.deps.Temporal, sample)
	if err != nil {
		return res, err
	}
	res.EventsPerMessage = events
	return res, nil
}

// signalSent are the answers to a signal route that mean the signal went to
// the workflow: 200 when the gateway decided it applies, 202 when it could
// not ask the workflow in time and left the decision to it.
var signalSent = []int{http.StatusOK, http.StatusAccepted}

// post sends body as JSON (none when nil) and wants one of the status codes
// in want.
func (l *lifecycle) post(ctx context.Context, path string, body any, want ...int) error {
	var r io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(l.cfg.Gateway, "/")+path, r)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.deps.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if !slices.Contains(want, resp.StatusCode) {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
