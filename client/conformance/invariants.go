package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/conformance/protocol"
	"github.com/courier-mq/courier/client/wire"
)

// checkInvariants checks what every scenario must end with (README.md,
// "Invariants"), once its steps are done and its messages settled.
func (r *run) checkInvariants() {
	t := r.t
	t.Helper()
	r.mu.Lock()
	calls := make([]*call, 0, len(r.calls))
	for _, c := range r.calls {
		calls = append(calls, c)
	}
	answers := slices.Clone(r.answers)
	r.mu.Unlock()
	sort.Slice(calls, func(i, j int) bool { return calls[i].ref < calls[j].ref })
	for _, c := range calls {
		select {
		case <-c.done:
		case <-time.After(settleWithin):
			t.Fatalf("call %s never answered", c.ref)
		}
		if c.result.MessageID != "" {
			r.mu.Lock()
			c.msgID = c.result.MessageID
			r.mu.Unlock()
		}
	}

	// Which calls committed, by their effect rows.
	effects := map[string]string{} // ref -> message id
	rows, err := r.db.db.Query("SELECT ref, message_id FROM conformance_effects")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ref, id string
		if err := rows.Scan(&ref, &id); err != nil {
			t.Fatal(err)
		}
		effects[ref] = id
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	committed := map[string]int{} // message id -> effects
	for ref, id := range effects {
		committed[id]++
		if !slices.Contains(r.sc.Effects, ref) && !slices.Contains(r.sc.MayCommit, ref) {
			t.Errorf("call %s's business committed; the scenario says it must not", ref)
		}
	}
	for _, ref := range r.sc.Effects {
		if _, ok := effects[ref]; !ok {
			t.Errorf("call %s's business did not commit; the scenario says it must", ref)
		}
	}
	for id, n := range committed {
		if n > 1 {
			t.Errorf("message %s: %d business transactions committed, at most one may", id, n)
		}
	}

	// Each outcome agrees with what happened.
	for _, c := range calls {
		_, mine := effects[c.ref]
		switch o := c.result.Outcome; {
		case (o == protocol.Committed || o == protocol.AlreadyCommitted) && committed[c.msgID] == 0:
			t.Errorf("call %s answered %s, but no transaction of message %s committed", c.ref, o, c.msgID)
		case o == protocol.Committed && !mine:
			t.Errorf("call %s answered committed, but its own business did not commit", c.ref)
		case protocol.NotCommitted[o] && mine:
			t.Errorf("call %s answered %s (%s), but its business committed", c.ref, o, c.result.Error)
		}
	}
	// Every check-back answer the runner got agrees with the outcome.
	for _, a := range answers {
		switch {
		case a.status == "ROLLED_BACK" && committed[a.msgID] > 0:
			t.Errorf("a check-back of %s answered ROLLED_BACK; its transaction committed", a.msgID)
		case a.status == "COMMITTED" && committed[a.msgID] == 0:
			t.Errorf("a check-back of %s answered COMMITTED; no transaction of it committed", a.msgID)
		}
	}

	// Courier does what the database says: sent iff committed.
	ids := map[string]bool{}
	for _, c := range calls {
		if c.msgID != "" {
			ids[c.msgID] = true
		}
	}
	for id := range ids {
		if committed[id] > 0 {
			r.waitStatus(id, wire.StatusDelivered, wire.StatusCompleted)
		} else {
			r.waitStatus(id, wire.StatusCancelled)
		}
		r.checkCourierAnswers(id, committed[id] > 0)
	}

	r.checkConsumed()
	for _, name := range r.sc.GroupOffsets {
		if err := r.kafka.waitCommitted(r.id(name), r.topic); err != nil {
			t.Error(err)
		}
	}
	r.checkRows("barrier", barrierTable, "message_id", r.sc.BarrierRows)
	r.checkRows("dedupe", dedupeTable, "message_id", r.sc.DedupeRows)
}

// checkCourierAnswers requires every answer Courier's own check-backs got
// for message id, as its workflow recorded them, to agree with whether its
// transaction committed.
func (r *run) checkCourierAnswers(id string, committed bool) {
	st, err := r.courier.State(context.Background(), id)
	if errors.Is(err, client.ErrNotFound) {
		return // never prepared
	}
	if err != nil {
		r.t.Errorf("message %s: read Courier's check-backs: %v", id, err)
		return
	}
	for _, c := range st.Checks {
		if (c.Answer == "ROLLED_BACK" && committed) || (c.Answer == "COMMITTED" && !committed) {
			r.t.Errorf("message %s: Courier's check-back %d was answered %s; the transaction committed: %v", id, c.Attempt, c.Answer, committed)
		}
	}
}

// waitStatus waits until message id is in one of want; a message in a
// final status outside want fails at once. A message Courier never heard
// of (its prepare never arrived) counts as cancelled.
func (r *run) waitStatus(id string, want ...wire.Status) {
	r.t.Helper()
	final := []wire.Status{wire.StatusCompleted, wire.StatusCancelled, wire.StatusDead, wire.StatusCheckExhausted}
	deadline := time.Now().Add(settleWithin)
	for {
		v, err := r.courier.Get(context.Background(), id)
		switch {
		case err == nil && slices.Contains(want, v.Status):
			return
		case err == nil && slices.Contains(final, v.Status):
			r.t.Errorf("message %s is %s, want %v (last error %q)", id, v.Status, want, v.LastError)
			return
		case errors.Is(err, client.ErrNotFound) && slices.Contains(want, wire.StatusCancelled):
			return
		}
		if time.Now().After(deadline) {
			r.t.Errorf("message %s is %q after %s (%v), want %v", id, v.Status, settleWithin, err, want)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkRows requires a row of exactly each of the scenario-local ids in
// table: ids that differ only in case are two messages.
func (r *run) checkRows(what, table, column string, local []string) {
	if len(local) == 0 {
		return
	}
	have := map[string]bool{}
	rows, err := r.db.db.Query("SELECT " + column + " FROM " + table)
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			r.t.Fatal(err)
		}
		have[id] = true
	}
	for _, l := range local {
		if !have[r.id(l)] {
			r.t.Errorf("no %s row for message %s (rows: %v)", what, r.id(l), have)
		}
	}
}

// checkConsumed requires each consumer's sends applied exactly once and
// their messages COMPLETED (which comes after the effect's commit, so the
// count is final).
func (r *run) checkConsumed() {
	for name, refs := range r.sc.Consumed {
		for _, ref := range refs {
			r.mu.Lock()
			id, ok := r.sends[ref]
			r.mu.Unlock()
			if !ok {
				r.t.Errorf("no send %q", ref)
				continue
			}
			r.waitStatus(id, wire.StatusCompleted)
			if n := r.consumedCount(r.id(name), id); n != 1 {
				r.t.Errorf("consumer %s applied message %s (%s) %d times, want once", name, ref, id, n)
			}
		}
	}
}

// consumedCount counts consumer's effect rows of message id, comparing
// ids exactly whatever the column's collation.
func (r *run) consumedCount(consumer, id string) int {
	rows, err := r.db.db.Query(r.db.rebind("SELECT message_id FROM conformance_consumed WHERE consumer = ?"), consumer)
	if err != nil {
		r.t.Fatal(fmt.Errorf("read effects: %w", err))
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var have string
		if err := rows.Scan(&have); err != nil {
			r.t.Fatal(err)
		}
		if have == id {
			n++
		}
	}
	return n
}
