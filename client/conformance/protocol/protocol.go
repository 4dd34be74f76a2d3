// Package protocol is the conformance suite's wire format: the JSON lines a
// runner and a client's adapter exchange (see ../README.md), shared by the
// runner and the Go adapter so that the two cannot drift.
package protocol

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Outcome is how one transaction call ended, as an adapter reports it. The
// words are the protocol's; each client maps its own errors onto them.
type Outcome string

// The outcomes of a transaction call.
const (
	// Committed: the call returned success; the business transaction
	// committed and the message will be sent.
	Committed Outcome = "committed"
	// BusinessError: the business function returned an error (or one of its
	// statements failed and was not ignored); the call returned it.
	BusinessError Outcome = "business_error"
	// RolledBack: the client proved the transaction did not commit (COMMIT
	// failed and the barrier row is absent, the context was cancelled, the
	// database dropped the transaction after an ignored statement error);
	// the message is cancelled.
	RolledBack Outcome = "rolled_back"
	// CheckedBack: a check-back had answered ROLLED_BACK for the message
	// before this call's transaction could write its barrier row, or the
	// message was cancelled by an earlier call; the business did not run.
	CheckedBack Outcome = "checked_back"
	// AlreadyCommitted: an earlier call's transaction for this message
	// committed; the business did not run again.
	AlreadyCommitted Outcome = "already_committed"
	// CommitUnknown: COMMIT failed and the client cannot tell whether it
	// took effect; the check-back decides.
	CommitUnknown Outcome = "commit_unknown"
	// Panic: the business function panicked (threw); the client let it
	// through after rolling back.
	Panic Outcome = "panic"
	// PrepareFailed: Courier refused or did not answer the prepare.
	PrepareFailed Outcome = "prepare_failed"
	// Error: any other failure of the call.
	Error Outcome = "error"
	// Killed is not an adapter's word: the runner records it for a call
	// whose adapter it killed before the call answered.
	Killed Outcome = "killed"
)

// Outcomes are the words an adapter may answer a transaction with.
var Outcomes = []Outcome{Committed, BusinessError, RolledBack, CheckedBack, AlreadyCommitted, CommitUnknown, Panic, PrepareFailed, Error}

// NotCommitted are the outcomes that promise this call's business
// transaction did not commit.
var NotCommitted = map[Outcome]bool{BusinessError: true, RolledBack: true, CheckedBack: true, Panic: true, PrepareFailed: true}

// Request is one line on the adapter's stdin. Op selects the fields used;
// README.md describes each operation.
type Request struct {
	ID int64  `json:"id"`
	Op string `json:"op"`

	// open
	Mode        string `json:"mode,omitempty"`
	Dialect     string `json:"dialect,omitempty"`
	URL         string `json:"url,omitempty"`
	Isolation   string `json:"isolation,omitempty"`
	CourierURL  string `json:"courier_url,omitempty"`
	CheckListen string `json:"check_listen,omitempty"`
	Table       string `json:"table,omitempty"`
	DedupeTable string `json:"dedupe_table,omitempty"`
	EffectSQL   string `json:"effect_sql,omitempty"`
	Producer    string `json:"producer,omitempty"`
	// FoundRows: connect to MySQL/MariaDB with the CLIENT_FOUND_ROWS
	// capability flag, so that an UPDATE or an insert-if-absent reports the
	// rows it matched, not those it changed. Only for dialect mysql.
	FoundRows bool `json:"found_rows,omitempty"`

	// transaction, cancel
	Ref     string   `json:"ref,omitempty"`
	Message *Message `json:"message,omitempty"`
	Reuse   string   `json:"reuse,omitempty"`
	Steps   []TxStep `json:"steps,omitempty"`

	// release
	Gate string `json:"gate,omitempty"`

	// cleanup
	RetentionMS int64 `json:"retention_ms,omitempty"`

	// consume, stop_consumer (Ref names the consumer)
	Name     string   `json:"name,omitempty"`
	Topics   []string `json:"topics,omitempty"`
	Brokers  []string `json:"brokers,omitempty"`
	Attempts int      `json:"attempts,omitempty"`
	Handler  *Handler `json:"handler,omitempty"`
}

// Message is a message as the protocol carries it; durations are Go
// duration strings ("1s", "250ms"), as in Courier's HTTP API.
type Message struct {
	ID      string  `json:"id,omitempty"`
	Topic   string  `json:"topic"`
	Key     string  `json:"key,omitempty"`
	Payload string  `json:"payload"`
	Policy  *Policy `json:"policy,omitempty"`
}

// Policy is a message's own timing.
type Policy struct {
	CheckDelay       string   `json:"check_delay,omitempty"`
	CheckMaxDelay    string   `json:"check_max_delay,omitempty"`
	CheckTimeout     string   `json:"check_timeout,omitempty"`
	CheckMaxAttempts int      `json:"check_max_attempts,omitempty"`
	ResendIntervals  []string `json:"resend_intervals,omitempty"`
}

// TxStep is one step of a business function, run in order after the
// effect statement. Exactly one of SQL, Gate and Fail is set.
type TxStep struct {
	// SQL runs in the transaction with Args, "?" placeholders.
	SQL  string `json:"sql,omitempty"`
	Args []any  `json:"args,omitempty"`
	// IgnoreError: the business goes on when the statement fails, as
	// careless code does.
	IgnoreError bool `json:"ignore_error,omitempty"`
	// Report names the statement's single value (a query): it is sent in
	// the values of the next gate event.
	Report string `json:"report,omitempty"`
	// Gate emits a gate event and waits for its release.
	Gate string `json:"gate,omitempty"`
	// Fail ends the business: "error" returns an error, "panic" panics
	// (throws).
	Fail string `json:"fail,omitempty"`
}

// Handler is what a consumer's handler does with each message, in the
// consumer's transaction: it runs EffectSQL with (consumer name, message
// id, courier-attempt), after failing with an error when the message's id
// is in FailIDs and its courier-attempt is at most FailSends.
type Handler struct {
	EffectSQL string   `json:"effect_sql"`
	FailIDs   []string `json:"fail_ids,omitempty"`
	FailSends int      `json:"fail_sends,omitempty"`
}

// Response is a line on the adapter's stdout: the answer to request ID, or
// an event (Event set, ID zero).
type Response struct {
	ID     int64           `json:"id,omitempty"`
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`

	// Event "gate": call Ref, whose message is MessageID, waits at Gate;
	// Values holds what its report steps read.
	Event     string            `json:"event,omitempty"`
	Ref       string            `json:"ref,omitempty"`
	Gate      string            `json:"gate,omitempty"`
	MessageID string            `json:"message_id,omitempty"`
	Values    map[string]string `json:"values,omitempty"`
}

// Hello is the result of hello.
type Hello struct {
	Client  string   `json:"client"`
	Version string   `json:"version"`
	Modes   []string `json:"modes"`
}

// Opened is the result of open.
type Opened struct {
	CheckURL string `json:"check_url"`
	// RetentionFloorMS is the shortest retention the client's cleanup
	// accepts.
	RetentionFloorMS int64 `json:"retention_floor_ms"`
}

// TxResult is the result of transaction.
type TxResult struct {
	MessageID string  `json:"message_id"`
	Outcome   Outcome `json:"outcome"`
	// Error is the call's error text, for people reading a failure.
	Error string `json:"error,omitempty"`
}

// Cleaned is the result of cleanup.
type Cleaned struct {
	Deleted int64 `json:"deleted"`
}

// Numbered turns the protocol's "?" placeholders into PostgreSQL's $1, $2,
// ...: scenarios write their statements once, with "?", and a client on
// PostgreSQL rewrites them (README.md, "Statements").
func Numbered(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
