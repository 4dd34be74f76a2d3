package producer_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/internal/devcourier"
	"github.com/courier-mq/courier/client/internal/producertest"
	"github.com/courier-mq/courier/client/internal/testdb"
	"github.com/courier-mq/courier/client/producer"
	"github.com/courier-mq/courier/client/wire"
)

// The tests in this file use the producer the way services are written:
// retry loops, ignored errors, panics, two calls with one id. Each checks
// the package's rule: a message is sent exactly when its transaction
// committed, and the caller is told which happened.

// settled waits until msg's message leaves WAITING_CONFIRM and requires it
// to be sent (want true) or cancelled (want false).
func settled(t *testing.T, c *client.Client, id string, sent bool) {
	t.Helper()
	if sent {
		devcourier.WaitStatus(t, c, id, wire.StatusDelivered)
	} else {
		devcourier.WaitStatus(t, c, id, wire.StatusCancelled)
	}
}

// TestRetryWithTheSameMessageAfterABusinessError is a retry loop around
// Transaction that passes the same *client.Message again: the first call
// set its id and cancelled it, so the retry must not run the business and
// commit a change whose message can never be sent.
func TestRetryWithTheSameMessageAfterABusinessError(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.DB) {
		p, c := setup(t, db, nil)
		msg := &client.Message{Topic: "payments", Payload: []byte(`{}`), Policy: later}
		declined := errors.New("card declined")
		if err := p.Transaction(t.Context(), msg, func(*sql.Tx) error { return declined }); !errors.Is(err, declined) {
			t.Fatalf("first try: %v", err)
		}
		settled(t, c, msg.ID, false)
		ran := false
		err := p.Transaction(t.Context(), msg, func(tx *sql.Tx) error {
			ran = true
			return pay(db, "retry-"+msg.ID)(tx)
		})
		if !errors.Is(err, producer.ErrCheckedBack) || ran {
			t.Fatalf("retry with the cancelled message: %v (business ran: %v)", err, ran)
		}
		if paid(t, db, "retry-"+msg.ID) {
			t.Fatal("the retry committed a payment whose message is cancelled")
		}
	})
}

// TestRetryAfterACommitWhoseAnswerWasLost: the first call committed but its
// confirm was lost (the caller may also have seen an error and retried).
// The retry must not run the business again and must not cancel the
// committed transaction's message; it confirms it.
func TestRetryAfterACommitWhoseAnswerWasLost(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.DB) {
		c := courier.Client(t)
		p, _ := setup(t, db, &lostFirstConfirm{Client: c})
		msg := &client.Message{ID: client.NewID(), Topic: "payments", Payload: []byte(`{}`), Policy: later}
		if err := p.Transaction(t.Context(), msg, pay(db, "once-"+msg.ID[:8])); err != nil {
			t.Fatal(err)
		}
		ran := false
		err := p.Transaction(t.Context(), msg, func(tx *sql.Tx) error {
			ran = true
			return nil
		})
		if !errors.Is(err, producer.ErrAlreadyCommitted) || ran {
			t.Fatalf("retry of a committed message: %v (business ran: %v)", err, ran)
		}
		if s, err := p.Check(t.Context(), msg.ID); s != "COMMITTED" || err != nil {
			t.Fatalf("check-back: %s, %v", s, err)
		}
		settled(t, c, msg.ID, true)
	})
}

// lostFirstConfirm is a Courier whose first confirm never arrives.
type lostFirstConfirm struct {
	*client.Client
	lost atomic.Bool
}

func (l *lostFirstConfirm) Confirm(ctx context.Context, id, reason string) (wire.SignalResponse, error) {
	if l.lost.CompareAndSwap(false, true) {
		return wire.SignalResponse{}, errors.New("connection reset")
	}
	return l.Client.Confirm(ctx, id, reason)
}

// TestConcurrentTransactionsWithOneID: two calls with one caller-chosen id
// at once, the first failing while the second waits on its barrier row.
// Whatever the order, a payment is committed exactly when the message is
// sent.
func TestConcurrentTransactionsWithOneID(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.DB) {
		p, c := setup(t, db, nil)
		id := "order-" + client.NewID()[:8]
		inside, release := make(chan struct{}), make(chan struct{})
		first := make(chan error, 1)
		go func() {
			first <- p.Transaction(t.Context(), &client.Message{ID: id, Topic: "payments", Payload: []byte(`{}`), Policy: later}, func(tx *sql.Tx) error {
				close(inside)
				<-release
				return errors.New("card declined")
			})
		}()
		<-inside
		second := make(chan error, 1)
		go func() {
			second <- p.Transaction(t.Context(), &client.Message{ID: id, Topic: "payments", Payload: []byte(`{}`), Policy: later}, pay(db, id))
		}()
		// The second call is waiting on the first's barrier row (SQLite:
		// on the database lock) when the first fails.
		time.Sleep(300 * time.Millisecond)
		close(release)
		if err := <-first; err == nil || err.Error() != "card declined" {
			t.Fatalf("first: %v", err)
		}
		err := <-second
		committed := paid(t, db, id)
		switch {
		case err == nil && committed:
			settled(t, c, id, true)
		case errors.Is(err, producer.ErrCheckedBack) && !committed:
			settled(t, c, id, false)
		default:
			t.Fatalf("second: %v with the payment committed = %v", err, committed)
		}
	})
}

// TestIgnoredDeadlockOnMySQL: InnoDB rolls back the whole transaction on a
// deadlock; a business function that ignores that statement's error goes on
// in autocommit mode and COMMIT succeeds with nothing to commit. The
// message must not be sent, and the caller must hear that the transaction
// rolled back.
func TestIgnoredDeadlockOnMySQL(t *testing.T) {
	db := testdb.Open(t, "mysql")
	p, c := setup(t, db, nil)
	testdb.Exec(t, db.DB, "CREATE TABLE accounts (id INT PRIMARY KEY, balance INT)")
	testdb.Exec(t, db.DB, "INSERT INTO accounts VALUES (1, 0), (2, 0)")
	testdb.Exec(t, db.DB, "CREATE TABLE filler (n INT PRIMARY KEY)")
	msg := &client.Message{Topic: "payments", Payload: []byte(`{}`), Policy: later}
	var ignored error
	err := p.Transaction(t.Context(), msg, func(tx *sql.Tx) error {
		if _, err := tx.Exec("UPDATE accounts SET balance = balance + 1 WHERE id = 1"); err != nil {
			return err
		}
		// Another transaction, larger than this one so that InnoDB picks
		// this one as the deadlock's victim, locks row 2 and then waits
		// for row 1.
		other, err := db.DB.BeginTx(t.Context(), nil)
		if err != nil {
			return err
		}
		defer func() { _ = other.Rollback() }()
		for n := range 50 {
			if _, err := other.Exec("INSERT INTO filler VALUES (?)", n); err != nil {
				return err
			}
		}
		if _, err := other.Exec("UPDATE accounts SET balance = balance + 1 WHERE id = 2"); err != nil {
			return err
		}
		otherDone := make(chan error, 1)
		go func() {
			_, err := other.Exec("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
			otherDone <- err
		}()
		time.Sleep(200 * time.Millisecond)
		_, ignored = tx.Exec("UPDATE accounts SET balance = balance + 1 WHERE id = 2")
		if err := <-otherDone; err != nil {
			return fmt.Errorf("the other transaction was the victim: %w", err)
		}
		if err := other.Commit(); err != nil {
			return err
		}
		// The ignored error's transaction is gone; this autocommits.
		return pay(db, "deadlock-"+msg.ID[:8])(tx)
	})
	if ignored == nil {
		t.Fatal("the test did not make a deadlock")
	}
	if !errors.Is(err, producer.ErrRolledBack) {
		t.Fatalf("Transaction after an ignored deadlock (%v): %v", ignored, err)
	}
	settled(t, c, msg.ID, false)
	if s, _ := p.Check(t.Context(), msg.ID); s != "ROLLED_BACK" {
		t.Fatalf("check-back answered %s", s)
	}
}

// TestPanicRollsBackAndCancels: a panic in the business function goes on
// to the caller, after the transaction is rolled back (its connection and
// locks released) and the message cancelled.
func TestPanicRollsBackAndCancels(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.DB) {
		p, c := setup(t, db, nil)
		msg := &client.Message{Topic: "payments", Payload: []byte(`{}`), Policy: later}
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Fatalf("recovered %v, want the business function's panic", r)
				}
			}()
			_ = p.Transaction(context.Background(), msg, func(tx *sql.Tx) error {
				if err := pay(db, "panic-"+msg.ID[:8])(tx); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		short, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		if s, err := p.Check(short, msg.ID); s != "ROLLED_BACK" || err != nil {
			t.Fatalf("check-back after the panic: %s, %v (is the transaction still open?)", s, err)
		}
		if paid(t, db, "panic-"+msg.ID[:8]) {
			t.Fatal("the panicking transaction committed")
		}
		settled(t, c, msg.ID, false)
	})
}

// TestCancelledContextIsAKnownRollback: the caller's context ends before
// COMMIT. database/sql rolls the transaction back; that outcome is known,
// so the message is cancelled now and the error says it rolled back.
func TestCancelledContextIsAKnownRollback(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.DB) {
		p, c := setup(t, db, nil)
		ctx, cancel := context.WithCancel(t.Context())
		msg := &client.Message{Topic: "payments", Payload: []byte(`{}`), Policy: later}
		err := p.Transaction(ctx, msg, func(tx *sql.Tx) error {
			if err := pay(db, "ctx-"+msg.ID[:8])(tx); err != nil {
				return err
			}
			cancel()
			return nil
		})
		if !errors.Is(err, producer.ErrRolledBack) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Transaction with its context cancelled before COMMIT: %v", err)
		}
		settled(t, c, msg.ID, false)
	})
}

// TestCleanupOutlastsTheCheckBackSchedule: the default check-back schedule
// makes its last call about 65 minutes after prepare; a barrier row deleted
// before then would turn a committed transaction into ROLLED_BACK.
func TestCleanupOutlastsTheCheckBackSchedule(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	p, _ := setup(t, db, nil)
	floor := producer.RetentionFloor()
	if last := wire.DefaultTiming().CheckSpan(); floor < last {
		t.Fatalf("the retention floor %s is under the default schedule's last check-back at %s", floor, last)
	}
	if _, err := p.Cleanup(t.Context(), time.Hour); err == nil {
		t.Fatal("a retention of an hour is refused: the default schedule checks back for longer")
	}
	if _, err := p.Cleanup(t.Context(), floor); err != nil {
		t.Fatalf("the floor itself: %v", err)
	}
	if _, err := producer.New(courier.Client(t), db.DB, producer.Config{CheckURL: "http://x/check", Retention: time.Hour}); err == nil {
		t.Fatal("New takes a retention under the floor")
	}
	long := &client.Policy{CheckDelay: time.Hour, CheckMaxDelay: 24 * time.Hour, CheckMaxAttempts: 20}
	err := p.Transaction(t.Context(), &client.Message{Topic: "payments", Payload: []byte(`{}`), Policy: long}, func(*sql.Tx) error {
		t.Fatal("the business ran for a message the retention cannot cover")
		return nil
	})
	if err == nil {
		t.Fatal("a message whose check-back schedule outlasts the retention is accepted")
	}
}

// TestBackgroundCleanup: the producer deletes barrier rows past the
// retention by itself, and never a young one.
func TestBackgroundCleanup(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	c := courier.Client(t)
	p, err := producer.New(c, db.DB, producer.Config{CheckURL: "http://127.0.0.1:1/check", CleanupEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Check(t.Context(), "old"); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, db.DB, "UPDATE courier_barrier SET created_at = ?", time.Now().Add(-producer.DefaultRetention-time.Minute).UnixMilli())
	var once sync.Once
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := p.Check(t.Context(), "young"); err != nil {
			t.Fatal(err)
		}
		var old, young int
		if err := db.DB.QueryRow("SELECT COUNT(*) FROM courier_barrier WHERE message_id = 'old'").Scan(&old); err != nil {
			t.Fatal(err)
		}
		if err := db.DB.QueryRow("SELECT COUNT(*) FROM courier_barrier WHERE message_id = 'young'").Scan(&young); err != nil {
			t.Fatal(err)
		}
		if young != 1 {
			t.Fatal("the cleanup deleted a row younger than the retention")
		}
		if old == 0 {
			return
		}
		if time.Now().After(deadline) {
			once.Do(func() { t.Fatal("the row past the retention was never deleted") })
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestIDsDifferingOnlyInCase: Courier treats order-7 and ORDER-7 as two
// messages; so must the barrier table, on every database (MySQL's default
// collation does not).
func TestIDsDifferingOnlyInCase(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.DB) {
		p, _ := setup(t, db, nil)
		lower := &client.Message{ID: "order-" + client.NewID()[:6], Topic: "payments", Payload: []byte(`{}`), Policy: later}
		if err := p.Transaction(t.Context(), lower, pay(db, lower.ID)); err != nil {
			t.Fatal(err)
		}
		upper := "ORDER-" + lower.ID[len("order-"):]
		if s, err := p.Check(t.Context(), upper); s != "ROLLED_BACK" || err != nil {
			t.Fatalf("check-back of %s answered from %s's row: %s, %v", upper, lower.ID, s, err)
		}
	})
}

// TestAbandonedCheckBackLeavesNoWaitingStatement: a check-back that gives up
// while a transaction holds the message's barrier row must not leave its
// statement waiting in the database (MariaDB kept it for
// innodb_lock_wait_timeout, 50 s, holding a connection each), and on SQLite
// busy_timeout must not outlast the caller's deadline.
func TestAbandonedCheckBackLeavesNoWaitingStatement(t *testing.T) {
	for _, name := range []string{"mysql", "sqlite"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := testdb.Open(t, name)
			p, _ := setup(t, db, nil)
			msg := &client.Message{Topic: "payments", Payload: []byte(`{}`), Policy: later}
			inside, release := make(chan struct{}), make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- p.Transaction(t.Context(), msg, func(tx *sql.Tx) error {
					close(inside)
					<-release
					return nil
				})
			}()
			<-inside
			for range 4 {
				short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
				start := time.Now()
				s, err := p.Check(short, msg.ID)
				took := time.Since(start)
				cancel()
				if err == nil {
					t.Fatalf("check-back answered %s while the transaction was open", s)
				}
				// SQLite's busy_timeout in testdb is 3 s.
				if took > 2*time.Second {
					t.Fatalf("a check-back with a 300 ms deadline answered after %s", took)
				}
			}
			if name == "mysql" {
				waiting := func() int {
					var n int
					err := db.DB.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND INFO LIKE 'INSERT INTO courier_barrier%'").Scan(&n)
					if err != nil {
						t.Fatal(err)
					}
					return n
				}
				deadline := time.Now().Add(5 * time.Second)
				for waiting() > 0 {
					if time.Now().After(deadline) {
						t.Fatalf("%d abandoned check-back statements still wait on the lock", waiting())
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSerializationFailureAtCommit: under SERIALIZABLE, PostgreSQL refuses
// the second of two transactions that read what the other writes, at its
// COMMIT. That outcome is known — it rolled back — so the message is
// cancelled now and the error says so, instead of ErrCommitUnknown.
func TestSerializationFailureAtCommit(t *testing.T) {
	db := testdb.Open(t, "postgres")
	serializable, err := sql.Open("pgx", db.DSN+"&default_transaction_isolation=serializable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = serializable.Close() })
	c := courier.Client(t)
	p := producertest.New(t, c, serializable, producer.Config{})
	testdb.Exec(t, db.DB, "CREATE TABLE doctors (name TEXT PRIMARY KEY, on_call BOOLEAN)")
	testdb.Exec(t, db.DB, "INSERT INTO doctors VALUES ('alice', true), ('bob', true)")
	// Each takes a doctor off call after seeing two on call: write skew.
	read, wrote := make(chan struct{}, 2), make(chan struct{}, 2)
	both, bothWrote := make(chan struct{}), make(chan struct{})
	errs := make([]error, 2)
	msgs := []*client.Message{
		{ID: client.NewID(), Topic: "payments", Payload: []byte(`{}`), Policy: later},
		{ID: client.NewID(), Topic: "payments", Payload: []byte(`{}`), Policy: later},
	}
	var wg sync.WaitGroup
	for i, name := range []string{"alice", "bob"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Transaction(t.Context(), msgs[i], func(tx *sql.Tx) error {
				var n int
				if err := tx.QueryRow("SELECT COUNT(*) FROM doctors WHERE on_call").Scan(&n); err != nil {
					return err
				}
				read <- struct{}{}
				<-both
				if _, err := tx.Exec("UPDATE doctors SET on_call = false WHERE name = $1", name); err != nil {
					return err
				}
				// Both have written before either commits, so the
				// conflict shows at the second COMMIT.
				wrote <- struct{}{}
				<-bothWrote
				return nil
			})
		}()
	}
	<-read
	<-read
	close(both)
	<-wrote
	<-wrote
	close(bothWrote)
	wg.Wait()
	var ok, refused int
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			settled(t, c, msgs[i].ID, true)
		case errors.Is(err, producer.ErrCommitUnknown):
			t.Fatalf("a serialization failure is a known rollback, not %v", err)
		default:
			refused++
			settled(t, c, msgs[i].ID, false)
		}
	}
	if ok != 1 || refused != 1 {
		t.Fatalf("%d committed and %d refused (%v), want one each", ok, refused, errs)
	}
}
