package chaos

import (
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/models"
)

// Misbehaviour is how the producer's check-back endpoint fails a message's
// first check-backs before it answers truthfully.
type Misbehaviour int

// The check-back misbehaviours.
const (
	// Truthful answers every check-back with the transaction's outcome.
	Truthful Misbehaviour = iota
	// Slow answers the first check-backs after the check timeout.
	Slow
	// ServerError answers the first check-backs with HTTP 500.
	ServerError
	// Garbage answers the first check-backs with a 200 that is not the
	// documented JSON.
	Garbage
)

// misbehavingCalls is how many check-backs of a misbehaving message fail.
const misbehavingCalls = 2

// Producer is the producer service's check-back endpoint. It knows the
// outcome of each message's local transaction and answers with it, after the
// message's misbehaviour. An unknown message is UNKNOWN.
type Producer struct {
	// SlowBy is how long a Slow answer takes; set it beyond the check timeout.
	SlowBy time.Duration

	mu      sync.Mutex
	outcome map[string]models.CheckAnswer
	misb    map[string]Misbehaviour
	calls   map[string]int
	total   atomic.Int64
}

// NewProducer returns an endpoint that knows no message yet.
func NewProducer(slowBy time.Duration) *Producer {
	return &Producer{
		SlowBy:  slowBy,
		outcome: map[string]models.CheckAnswer{},
		misb:    map[string]Misbehaviour{},
		calls:   map[string]int{},
	}
}

// Record stores the outcome of message id's transaction and how the endpoint
// misbehaves for it. Call it before the message is prepared.
func (p *Producer) Record(id string, outcome models.CheckAnswer, m Misbehaviour) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outcome[id], p.misb[id] = outcome, m
}

// Calls counts the check-backs received.
func (p *Producer) Calls() int64 { return p.total.Load() }

// ServeHTTP answers one check-back.
func (p *Producer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.total.Add(1)
	var req activities.CheckRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	answer, ok := p.outcome[req.MessageID]
	if !ok {
		answer = models.CheckUnknown
	}
	misb := p.misb[req.MessageID]
	p.calls[req.MessageID]++
	failing := p.calls[req.MessageID] <= misbehavingCalls
	p.mu.Unlock()

	if failing {
		switch misb {
		case Slow:
			select {
			case <-time.After(p.SlowBy):
			case <-r.Context().Done():
				return
			}
		case ServerError:
			http.Error(w, `{"status":"COMMITTED"}`, http.StatusInternalServerError)
			return
		case Garbage:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"committed"} <html>`))
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(activities.CheckResponse{Status: string(answer)})
}
