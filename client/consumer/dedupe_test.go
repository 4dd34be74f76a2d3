package consumer_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/consumer"
	"github.com/courier-mq/courier/client/internal/devcourier"
	"github.com/courier-mq/courier/client/internal/testdb"
	"github.com/courier-mq/courier/client/wire"
)

// firstCompleteLost is a Courier whose first complete of each message never
// arrives, so Courier re-sends the message and the dedupe row must skip it.
type firstCompleteLost struct {
	*client.Client
	mu   sync.Mutex
	seen map[string]bool
}

func (f *firstCompleteLost) Complete(ctx context.Context, id, consumer string) (wire.SignalResponse, error) {
	f.mu.Lock()
	first := !f.seen[id]
	f.seen[id] = true
	f.mu.Unlock()
	if first {
		return wire.SignalResponse{}, errors.New("connection reset")
	}
	return f.Client.Complete(ctx, id, consumer)
}

// effects runs a consumer over topic with db until every id is COMPLETED,
// each first complete lost, and returns how many times the handler's
// effect committed per id.
func effects(t *testing.T, db *sql.DB, dialectName, topic string, ids []string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := courier.Client(t)
	testdb.Exec(t, db, "CREATE TABLE effects (n INTEGER PRIMARY KEY, message_id VARCHAR(128) NOT NULL)")
	insert := "INSERT INTO effects (n, message_id) VALUES (?, ?)"
	if dialectName == "postgres" {
		insert = "INSERT INTO effects (n, message_id) VALUES ($1, $2)"
	}
	var mu sync.Mutex
	n := 0
	cons, err := consumer.New(consumer.Config{
		Brokers: []string{courier.Kafka}, Topics: []string{topic}, Name: "ledger",
		Courier: &firstCompleteLost{Client: c, seen: map[string]bool{}}, DB: db,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- cons.Run(ctx, func(ctx context.Context, tx *sql.Tx, msg consumer.Message) error {
			mu.Lock()
			n++
			k := n
			mu.Unlock()
			_, err := tx.ExecContext(ctx, insert, k, msg.ID)
			return err
		})
	}()
	for _, id := range ids {
		devcourier.WaitStatus(t, c, id, wire.StatusCompleted)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query("SELECT message_id FROM effects")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got[id]++
	}
	return got
}

// send sends a message with id to topic.
func send(t *testing.T, topic, id string) {
	t.Helper()
	if _, err := courier.Client(t).Send(t.Context(), &client.Message{ID: id, Topic: topic, Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
}

// TestIDsDifferingOnlyInCase: order-7 and ORDER-7 are two messages, each
// handled once, on every database (MySQL's default collation took the
// second for a duplicate of the first and completed it with no effect).
// Each first complete is lost, so each message also comes again and must
// be skipped.
func TestIDsDifferingOnlyInCase(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.DB) {
		topic := "case-" + db.Name
		lower := "order-" + strings.ToLower(client.NewID()[:6])
		upper := strings.ToUpper(lower)
		send(t, topic, lower)
		send(t, topic, upper)
		got := effects(t, db.DB, db.Name, topic, []string{lower, upper})
		if got[lower] != 1 || got[upper] != 1 || len(got) != 2 {
			t.Fatalf("effects per message: %v, want one each for %s and %s", got, lower, upper)
		}
	})
}

// TestDedupeWithClientFoundRows: with MySQL's clientFoundRows=true an
// insert-if-absent that found the row reports one row affected, so a count
// could not tell a resend from a new message; the resend must still be
// skipped.
func TestDedupeWithClientFoundRows(t *testing.T) {
	db := testdb.Open(t, "mysql")
	cfg, err := mysql.ParseDSN(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ClientFoundRows = true
	flagged, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = flagged.Close() })
	topic := "found-rows"
	var ids []string
	for range 3 {
		id := client.NewID()
		send(t, topic, id)
		ids = append(ids, id)
	}
	got := effects(t, flagged, "mysql", topic, ids)
	for _, id := range ids {
		if got[id] != 1 {
			t.Fatalf("effects per message: %v, want one each", got)
		}
	}
}

// TestMigrateMakesOldKeysExact: a dedupe table created by an earlier
// version (VARCHAR keys, case-insensitive on MySQL) is altered by Migrate
// to compare exactly, keeping its rows.
func TestMigrateMakesOldKeysExact(t *testing.T) {
	db := testdb.Open(t, "mysql")
	testdb.Exec(t, db.DB, `CREATE TABLE courier_dedupe (
	consumer VARCHAR(128) NOT NULL,
	message_id VARCHAR(128) NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (consumer, message_id)
)`)
	testdb.Exec(t, db.DB, "INSERT INTO courier_dedupe VALUES ('ledger', 'order-7', ?)", time.Now().UnixMilli())
	cons, err := consumer.New(consumer.Config{Brokers: []string{courier.Kafka}, Topics: []string{"t"}, Name: "ledger", Courier: courier.Client(t), DB: db.DB})
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, db.DB, "INSERT INTO courier_dedupe VALUES ('ledger', 'ORDER-7', ?)", time.Now().UnixMilli())
	var n int
	if err := db.DB.QueryRow("SELECT COUNT(*) FROM courier_dedupe WHERE message_id = 'order-7'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows for order-7 after Migrate: %d, %v", n, err)
	}
}

// TestCleanupKeepsTheResendSchedule: retentions under the floor are
// refused by New and Cleanup; the floor outlasts the default resends.
func TestCleanupKeepsTheResendSchedule(t *testing.T) {
	if floor, resends := consumer.RetentionFloor(), wire.DefaultTiming().ResendSpan(); floor <= resends {
		t.Fatalf("the floor %s does not outlast the default resends (%s)", floor, resends)
	}
	db := testdb.Open(t, "sqlite")
	cfg := consumer.Config{Brokers: []string{courier.Kafka}, Topics: []string{"t"}, Name: "ledger", Courier: courier.Client(t), DB: db.DB, Retention: 2 * time.Hour}
	if _, err := consumer.New(cfg); err == nil {
		t.Fatal("New takes a retention under the floor")
	}
	cfg.Retention = 0
	cons, err := consumer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Cleanup(t.Context(), 2*time.Hour); err == nil {
		t.Fatal("Cleanup takes a retention under the floor")
	}
}

// TestRunCleansTheDedupeTable: Run deletes dedupe rows past the retention
// by itself, and never a young one.
func TestRunCleansTheDedupeTable(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	cons, err := consumer.New(consumer.Config{Brokers: []string{courier.Kafka}, Topics: []string{"cleanup"}, Name: "ledger", Courier: courier.Client(t), DB: db.DB, CleanupEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, db.DB, "INSERT INTO courier_dedupe VALUES ('ledger', 'old', ?)", time.Now().Add(-consumer.DefaultRetention-time.Minute).UnixMilli())
	testdb.Exec(t, db.DB, "INSERT INTO courier_dedupe VALUES ('ledger', 'young', ?)", time.Now().Add(-consumer.DefaultRetention+time.Hour).UnixMilli())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- cons.Run(ctx, func(context.Context, *sql.Tx, consumer.Message) error { return nil })
	}()
	defer func() {
		cancel()
		<-done
	}()
	count := func(id string) int {
		var n int
		if err := db.DB.QueryRow("SELECT COUNT(*) FROM courier_dedupe WHERE message_id = ?", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for count("old") > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the row past the retention was never deleted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if count("young") != 1 {
		t.Fatal("the cleanup deleted a row younger than the retention")
	}
}
