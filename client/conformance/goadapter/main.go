// Command goadapter is the Go client's adapter for the conformance suite: it
// speaks the suite's JSON-lines protocol (../README.md) on stdin and stdout
// and drives client/producer, client/gormproducer and client/consumer, so
// that the runner tests them exactly as it will test the clients of other
// languages. Its log goes to stderr.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/courier-mq/courier/client/conformance/protocol"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	slog.SetDefault(log)
	a := &adapter{out: json.NewEncoder(os.Stdout), gates: map[string]chan struct{}{}, cancels: map[string]func(){}}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	var running sync.WaitGroup
	for in.Scan() {
		var req protocol.Request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			log.Error("bad request line", "line", in.Text(), "error", err)
			continue
		}
		// Requests run concurrently: a transaction waits at a gate while
		// the release, a check-back or another transaction comes in.
		running.Go(func() {
			result, err := a.serve(req)
			a.reply(req.ID, result, err)
		})
	}
	running.Wait()
}

// adapter is one client under test: at most one open database, producer
// and its consumers.
type adapter struct {
	outMu sync.Mutex
	out   *json.Encoder

	mu        sync.Mutex
	gates     map[string]chan struct{}
	cancels   map[string]func()
	messages  sync.Map // ref -> *client.Message, for reuse
	consumers sync.Map // ref -> *running consumer
	producer  *producerSide
}

// serve answers one request with its result or an error.
func (a *adapter) serve(req protocol.Request) (any, error) {
	switch req.Op {
	case "hello":
		return protocol.Hello{Client: "courier-go", Version: "dev", Modes: []string{"sql", "gorm"}}, nil
	case "open":
		return a.open(req)
	case "transaction":
		return a.transaction(req)
	case "release":
		close(a.gate(req.Gate))
		return struct{}{}, nil
	case "cancel":
		a.mu.Lock()
		cancel := a.cancels[req.Ref]
		a.mu.Unlock()
		if cancel == nil {
			return nil, fmt.Errorf("no transaction %q is running", req.Ref)
		}
		cancel()
		return struct{}{}, nil
	case "cleanup":
		return a.cleanup(req)
	case "consume":
		return a.consume(req)
	case "stop_consumer":
		return a.stopConsumer(req)
	}
	return nil, fmt.Errorf("unknown op %q", req.Op)
}

// gate is the channel a gate's release closes, made by whichever of the
// gate and its release comes first.
func (a *adapter) gate(name string) chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	g, ok := a.gates[name]
	if !ok {
		g = make(chan struct{})
		a.gates[name] = g
	}
	return g
}

func (a *adapter) reply(id int64, result any, err error) {
	r := protocol.Response{ID: id}
	if err != nil {
		r.Error = err.Error()
	} else if r.Result, err = json.Marshal(result); err != nil {
		r.Error = err.Error()
	}
	a.send(r)
}

func (a *adapter) send(r protocol.Response) {
	a.outMu.Lock()
	defer a.outMu.Unlock()
	if err := a.out.Encode(r); err != nil {
		slog.Error("write to stdout", "error", err)
	}
}

// side is the producer of an open adapter, or an error saying open comes
// first.
func (a *adapter) side() (*producerSide, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.producer == nil {
		return nil, errors.New("open comes first")
	}
	return a.producer, nil
}
