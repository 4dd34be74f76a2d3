package chaos

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
)

// Kind is the producer's path for one message.
type Kind int

// The message kinds a scenario mixes.
const (
	// Confirmed: prepared, the transaction commits, the producer confirms.
	Confirmed Kind = iota
	// Cancelled: prepared, the transaction rolls back, the producer cancels.
	Cancelled
	// CheckCommitted: prepared, the transaction commits, the producer never
	// confirms; the check-back answers COMMITTED.
	CheckCommitted
	// CheckRolledBack: as CheckCommitted, but the answer is ROLLED_BACK.
	CheckRolledBack
	// CheckUnknown: prepared, the producer never decides and answers UNKNOWN
	// until the check-back limit: the message parks in CHECK_EXHAUSTED.
	CheckUnknown
	// DirectSend: sent without a transaction.
	DirectSend
	// Delayed: sent without a transaction, with deliver_at 1-3 s ahead.
	Delayed
)

// Kinds is every kind, the mix of a default scenario.
var Kinds = []Kind{Confirmed, Cancelled, CheckCommitted, CheckRolledBack, CheckUnknown, DirectSend, Delayed}

// String names the kind in reports.
func (k Kind) String() string {
	return [...]string{"confirmed", "cancelled", "check-committed", "check-rolled-back", "check-unknown", "direct", "delayed"}[k]
}

// outcome is the producer's transaction outcome for a kind.
func (k Kind) outcome() models.CheckAnswer {
	switch k {
	case Cancelled, CheckRolledBack:
		return models.CheckRolledBack
	case CheckUnknown:
		return models.CheckUnknown
	}
	return models.CheckCommitted
}

// committed reports whether a message of this kind must be delivered.
func (k Kind) committed() bool { return k.outcome() == models.CheckCommitted }

// Message is one message of a scenario and what must become of it.
type Message struct {
	ID         string
	Kind       Kind
	Completion Completion
	Misb       Misbehaviour
	Key        string
	Payload    string
	DeliverAt  time.Time // zero unless Delayed
}

// Expected is the status the message must settle in.
func (m Message) Expected() wire.Status {
	switch {
	case !m.Kind.committed() && m.Kind.outcome() == models.CheckRolledBack:
		return wire.StatusCancelled
	case !m.Kind.committed():
		return wire.StatusCheckExhausted
	case m.Completion == CompleteNever:
		return wire.StatusDead
	}
	return wire.StatusCompleted
}

// body is the prepare or send request for m.
func (m Message) body(checkURL, scenario string) map[string]any {
	b := map[string]any{
		"id":      m.ID,
		"topic":   Topic,
		"key":     m.Key,
		"payload": json.RawMessage(m.Payload),
		"headers": map[string]string{"chaos-scenario": scenario},
	}
	if m.Kind != DirectSend && m.Kind != Delayed {
		b["check_url"] = checkURL
	}
	if !m.DeliverAt.IsZero() {
		b["deliver_at"] = m.DeliverAt.UTC().Format(time.RFC3339Nano)
	}
	return b
}

// Mix builds n messages of scenario, cycling through kinds, completions and
// misbehaviours with different strides so that every combination occurs.
func Mix(scenario string, n int, kinds []Kind, completions []Completion, misbs []Misbehaviour) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		m := Message{
			ID:         fmt.Sprintf("%s-%05d", scenario, i),
			Kind:       kinds[i%len(kinds)],
			Completion: completions[(i/len(kinds))%len(completions)],
			Misb:       misbs[(i/3)%len(misbs)],
			Key:        fmt.Sprintf("customer-%d", i%37),
		}
		m.Payload = fmt.Sprintf(`{"scenario":%q,"n":%d}`, scenario, i)
		msgs[i] = m
	}
	return msgs
}
