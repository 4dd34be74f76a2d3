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
// (Courier's resends), and one whose handler always fails: every other
// message is processed exactly once and COMPLETED; the failing one does not
// hold its partition and ends DEAD, not completed.
func TestRunProcessesOnceAndCompletes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.DB) {
		ctx := t.Context()
		c := courier.Client(t)
		topic := "consumer-" + db.Name
		testdb.Exec(t, db.DB, "CREATE TABLE vouchers (message_id VARCHAR(128) PRIMARY KEY)")
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
		calls := map[string]int{}
		poisonSends := map[int]bool{}
		// slow blocks the first run until it stops; it must then be read
		// again from its own record (send 1), not skipped until a resend.
		var firstRun atomic.Bool
		firstRun.Store(true)
		slowSend := 0
		handler := func(ctx context.Context, tx *sql.Tx, msg consumer.Message) error {
			if msg.ID == slow && firstRun.Load() {
				<-ctx.Done()
				return ctx.Err()
			}
			mu.Lock()
			calls[msg.ID]++
			if msg.ID == slow {
				slowSend = msg.Attempt
			}
			mu.Unlock()
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
		time.Sleep(3 * time.Second)
		stop()
		<-done
		firstRun.Store(false)
		second, stop2 := context.WithCancel(ctx)
		t.Cleanup(stop2)
		go run(second)

		deadline := time.Now().Add(60 * time.Second)
		for _, id := range ids {
			devcourier.WaitStatusUntil(t, c, id, wire.StatusCompleted, deadline)
		}
		devcourier.WaitStatusUntil(t, c, poison, wire.StatusDead, deadline)
		var rows int
		if err := db.DB.QueryRow("SELECT COUNT(*) FROM vouchers").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != n-1 {
			t.Fatalf("%d vouchers for %d messages", rows, n-1)
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
		for _, id := range ids {
			if calls[id] != 1 {
				t.Fatalf("handler ran %d times for %s", calls[id], id)
			}
		}
	})
}
