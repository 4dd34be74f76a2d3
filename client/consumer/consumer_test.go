package consumer_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/consumer"
	"github.com/courier-mq/courier/client/internal/devcourier"
	"github.com/courier-mq/courier/client/internal/testdb"
	"github.com/courier-mq/courier/client/wire"
)

var courier *devcourier.Courier

func TestMain(m *testing.M) { devcourier.RunTests(m, &courier) }

// TestRunProcessesOnceAndCompletes sends messages, some twice over
// (Courier's resends), and one whose handler always fails, and stops the
// consumer once in between: every other message's effect is committed
// exactly once and it ends COMPLETED; the failing one does not hold its
// partition and ends DEAD, not completed. A handler may run again only when
// its transaction did not commit, as when the stop came first.
func TestRunProcessesOnceAndCompletes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.DB) {
		ctx := t.Context()
		c := courier.Client(t)
		topic := fmt.Sprintf("consumer-%s-%d", db.Name, time.Now().UnixNano()) // its own per run, -count too
		testdb.Exec(t, db.DB, "CREATE TABLE vouchers (message_id VARCHAR(128))")
		insert := "INSERT INTO vouchers (message_id) VALUES (?)"
		if db.Name == "postgres" {
			insert = "INSERT INTO vouchers (message_id) VALUES ($1)"
		}
		const n = 20
		var ids []string
		poison, slow := "", ""
		for i := range n {
			m := &client.Message{Topic: topic, Key: fmt.Sprint(i % 3), Payload: []byte(fmt.Sprintf(`{"n":%d}`, i))}
			if _, err := c.Send(ctx, m); err != nil {
				t.Fatal(err)
			}
			if i == 11 {
				slow = m.ID
			}
			if i == 7 {
				poison = m.ID
			} else {
				ids = append(ids, m.ID)
			}
		}
		var mu sync.Mutex
		calls := map[string]int{}       // handler runs, both runs
		secondCalls := map[string]int{} // handler runs, second run
		poisonSends := map[int]bool{}
		// slow does its work in the first run and is stopped before its
		// transaction commits: its voucher must be rolled back, and the
		// record read again from its own send (1), not skipped until a
		// resend.
		var firstRun atomic.Bool
		firstRun.Store(true)
		slowStarted := make(chan struct{})
		slowSend := 0
		handler := func(ctx context.Context, tx *sql.Tx, msg consumer.Message) error {
			mu.Lock()
			calls[msg.ID]++
			if !firstRun.Load() {
				secondCalls[msg.ID]++
			}
			if msg.ID == slow {
				slowSend = msg.Attempt
			}
			mu.Unlock()
			if msg.ID == slow && firstRun.Load() {
				if _, err := tx.ExecContext(ctx, insert, msg.ID); err != nil {
					return err
				}
				close(slowStarted)
				<-ctx.Done()
				return nil
			}
			if msg.ID == poison {
				mu.Lock()
				poisonSends[msg.Attempt] = true
				mu.Unlock()
				return errors.New("cannot book this one")
			}
			_, err := tx.ExecContext(ctx, insert, msg.ID)
			return err
		}
		cons, err := consumer.New(consumer.Config{Brokers: []string{courier.Kafka}, Topics: []string{topic}, Name: "accounting", Courier: c, DB: db.DB, Attempts: 2})
		if err != nil {
			t.Fatal(err)
		}
		if err := cons.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		run := func(ctx context.Context) {
			if err := cons.Run(ctx, handler); err != nil {
				t.Error(err)
			}
		}
		// First run stops half-way; the second picks up from its offsets.
		first, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { run(first); close(done) }()
		select {
		case <-slowStarted:
		case <-time.After(60 * time.Second):
			t.Fatal("the first run did not reach the slow message")
		}
		time.Sleep(time.Second)
		stop()
		<-done
		committedFirst := vouchers(t, db.DB)
		if committedFirst[slow] != 0 {
			t.Fatal("the slow message's voucher was committed although the stop came before its commit")
		}
		if len(committedFirst) == 0 {
			t.Fatal("the first run committed nothing; the second run's dedupe is not tested")
		}
		firstRun.Store(false)
		second, stop2 := context.WithCancel(ctx)
		t.Cleanup(stop2)
		go run(second)

		deadline := time.Now().Add(60 * time.Second)
		for _, id := range ids {
			devcourier.WaitStatusUntil(t, c, id, wire.StatusCompleted, deadline)
		}
		devcourier.WaitStatusUntil(t, c, poison, wire.StatusDead, deadline)
		committed := vouchers(t, db.DB)
		if len(committed) != n-1 {
			t.Fatalf("vouchers of %d messages, want %d", len(committed), n-1)
		}
		for _, id := range ids {
			if committed[id] != 1 {
				t.Fatalf("%d vouchers for %s, want its effect committed once", committed[id], id)
			}
		}
		// DEAD can come before the consumer has read the resends: the
		// second run's group may still be joining on a loaded machine.
		for {
			mu.Lock()
			tried := len(poisonSends)
			mu.Unlock()
			if tried >= 2 {
				break
			}
			if time.Now().After(deadline) {
				mu.Lock()
				sends := maps.Clone(poisonSends)
				mu.Unlock()
				t.Fatalf("the failing message was tried on sends %v; each resend tries it again", sends)
			}
			time.Sleep(100 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		if slowSend != 1 {
			t.Fatalf("the message interrupted by the stop was handled from send %d, want its first record read again", slowSend)
		}
		if calls[slow] != 2 {
			t.Fatalf("handler ran %d times for the slow message, want once stopped before its commit and once again", calls[slow])
		}
		for _, id := range ids {
			if committedFirst[id] > 0 && secondCalls[id] != 0 {
				t.Fatalf("handler ran again for %s in the second run though its effect was committed in the first", id)
			}
			if committedFirst[id] == 0 && secondCalls[id] == 0 {
				t.Fatalf("handler never ran in the second run for %s, whose effect the first did not commit", id)
			}
		}
	})
}

// vouchers counts the committed vouchers of each message.
func vouchers(t *testing.T, db *sql.DB) map[string]int {
	t.Helper()
	rows, err := db.Query("SELECT message_id, COUNT(*) FROM vouchers GROUP BY message_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		counts[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return counts
}
