package models

import (
	"errors"
	"time"

	"github.com/courier-mq/courier/client/wire"
)

// Message is one row of the messages table: the queryable mirror of one message
// workflow. The workflow is the source of truth; this row follows it, one
// revision per lifecycle transition.
type Message struct {
	ID        string            `json:"id"`
	Topic     string            `json:"topic"`
	Key       string            `json:"key,omitempty"`
	Payload   []byte            `json:"payload"`
	Headers   map[string]string `json:"headers,omitempty"`
	Producer  string            `json:"producer,omitempty"`
	CheckURL  string            `json:"check_url"`
	Consumers []string          `json:"consumers,omitempty"`
	DeliverAt *time.Time        `json:"deliver_at,omitempty"`

	Status     wire.Status `json:"status"`
	CheckCount int         `json:"check_count"`
	SendCount  int         `json:"send_count"`
	LastError  string      `json:"last_error,omitempty"`

	CreatedAt   time.Time  `json:"created_at"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
	PublishedAt *time.Time `json:"published_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	UpdatedAt   time.Time  `json:"updated_at"`
	// StatusAt is when the message entered its current status: the store
	// sets it when a write changes the status (Insert takes UpdatedAt when
	// it is zero); the workflow leaves it zero.
	StatusAt time.Time `json:"status_at,omitzero"`
	// Revision orders the workflow's transitions (see RevisionTaskShift). A
	// write that does not supersede the stored row is ignored, so retried
	// and reordered writes never move a message backwards.
	Revision int64 `json:"revision"`
}

// RevisionTaskShift splits a Revision written by workflows of code version 1
// and later: the bits from it up hold the history length at the start of the
// workflow task that made the transition (its task part), the bits below
// count the message's transitions. Revisions of the first code version are
// plain counters, below 1<<RevisionTaskShift.
//
// A write supersedes the stored row when its task part is higher, or, with
// the same task part, when its UpdatedAt is later, or the same with a higher
// revision. Time decides between writes with the same task part because two
// workflow tasks share one only when the first was lost before the server
// recorded it (a task retried after a crash, or one carrying an update,
// which the server records only when it completes) and the second replaced
// it: the replacement may have had other updates to act on, and fewer
// transitions under the same counter, but it started after the loss; within
// one task the time never goes back and the counter orders. Plain counters
// compare by revision alone.
const RevisionTaskShift = 20

// RevisionTaskRange is [lo, hi), the revisions that share r's task part;
// lo is zero for a plain counter.
func RevisionTaskRange(r int64) (lo, hi int64) {
	lo = r >> RevisionTaskShift << RevisionTaskShift
	return lo, lo + 1<<RevisionTaskShift
}

// Transition is the part of a row that changes when the workflow moves from one
// state to the next. The workflow builds it; the mirror activity applies it.
type Transition struct {
	ID          string      `json:"id"`
	Revision    int64       `json:"revision"`
	Status      wire.Status `json:"status"`
	CheckCount  int         `json:"check_count"`
	SendCount   int         `json:"send_count"`
	LastError   string      `json:"last_error,omitempty"`
	ConfirmedAt *time.Time  `json:"confirmed_at,omitempty"`
	PublishedAt *time.Time  `json:"published_at,omitempty"`
	CompletedAt *time.Time  `json:"completed_at,omitempty"`
	UpdatedAt   time.Time   `json:"updated_at"`
}

// Onto makes m the row that t leaves behind when applied to it: what the
// store's Apply writes, in memory, so that a message's first write can create
// its row already at its first transition. status_at moves only with the
// status.
func (t Transition) Onto(m *Message) {
	if m.StatusAt.IsZero() {
		m.StatusAt = m.UpdatedAt
	}
	if t.Status != m.Status {
		m.StatusAt = t.UpdatedAt
	}
	m.Status = t.Status
	m.CheckCount = t.CheckCount
	m.SendCount = t.SendCount
	m.LastError = t.LastError
	m.ConfirmedAt = t.ConfirmedAt
	m.PublishedAt = t.PublishedAt
	m.CompletedAt = t.CompletedAt
	m.UpdatedAt = t.UpdatedAt
	m.Revision = t.Revision
}

// ErrNotFound is returned, wrapped, when no message has the requested ID.
var ErrNotFound = errors.New("message not found")
