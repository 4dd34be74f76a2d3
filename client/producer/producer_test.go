package producer_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/internal/devcourier"
	"github.com/courier-mq/courier/client/internal/producertest"
	"github.com/courier-mq/courier/client/internal/testdb"
	"github.com/courier-mq/courier/client/producer"
	"github.com/courier-mq/courier/client/wire"
)

var courier *devcourier.Courier

func TestMain(m *testing.M) { devcourier.RunTests(m, &courier) }

// later is a policy under which Courier does not check back during a test:
// the test calls the check itself.
var later = &client.Policy{CheckDelay: time.Hour, CheckMaxDelay: time.Hour}

// setup is a producer over db with its barrier table and a payments table.
func setup(t *testing.T, db testdb.DB, courierAPI producer.Courier) (*producer.Producer, *client.Client) {
	t.Helper()
	c := courier.Client(t)
	if courierAPI == nil {
		courierAPI = c
	}
	p := producertest.New(t, courierAPI, db.DB, producer.Config{Producer: "payments"})
	if err := p.Migrate(t.Context()); err != nil {
		t.Fatal("a second Migrate changes nothing: ", err)
	}
	testdb.Exec(t, db.DB, "CREATE TABLE payments (id VARCHAR(64) PRIMARY KEY)")
	return p, c
}

func pay(db testdb.DB, id string) func(tx *sql.Tx) error {
	return func(tx *sql.Tx) error {
		q := "INSERT INTO payments (id) VALUES (?)"
		if db.Name == "postgres" {
			q = "INSERT INTO payments (id) VALUES ($1)"
		}
		_, err := tx.Exec(q, id)
		return err
	}
}

func paid(t *testing.T, db testdb.DB, id string) bool {
	t.Helper()
	q := "SELECT COUNT(*) FROM payments WHERE id = ?"
	if db.Name == "postgres" {
		q = "SELECT COUNT(*) FROM payments WHERE id = $1"
	}
	var n int
	if err := db.DB.QueryRow(q, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// TestCheckBackWhileTheTransactionIsOpen stages the race that loses
// messages elsewhere: the check-back arrives while the business transaction
// is still open. The answer must wait for the outcome (or be UNKNOWN), and
// must never be ROLLED_BACK for a transaction that then commits.
func TestCheckBackWhileTheTransactionIsOpen(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.DB) {
		p, c := setup(t, db, nil)
		for _, commit := range []bool{true, false} {
			msg := &client.Message{Topic: "payments", Payload: []byte(`{}`), Policy: later}
			inside, release := make(chan struct{}), make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- p.Transaction(t.Context(), msg, func(tx *sql.Tx) error {
					if err := pay(db, "pay-"+msg.ID)(tx); err != nil {
						return err
					}
					close(inside)
					<-release
					if !commit {
						return errors.New("card declined")
					}
					return nil
				})
			}()
			<-inside

			// A check-back that gives up while the transaction is open
			// learns nothing; it is not ROLLED_BACK.
			short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			status, err := p.Check(short, msg.ID)
			cancel()
			if err == nil {
				t.Fatalf("commit=%v: check-back answered %s while the transaction was open", commit, status)
			}
			// One that waits gets the outcome.
			answer := make(chan string, 1)
			go func() {
				status, err := p.Check(t.Context(), msg.ID)
				if err != nil {
					status = "error: " + err.Error()
				}
				answer <- status
			}()
			select {
			case s := <-answer:
				t.Fatalf("commit=%v: check-back answered %s before the transaction ended", commit, s)
			case <-time.After(300 * time.Millisecond):
			}
			close(release)
			err = <-done
			want := "COMMITTED"
			if !commit {
				want = "ROLLED_BACK"
				if err == nil || err.Error() != "card declined" {
					t.Fatalf("the business error is returned unchanged: %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if s := <-answer; s != want {
				t.Fatalf("commit=%v: waiting check-back answered %s, want %s", commit, s, want)
			}
			if s, err := p.Check(t.Context(), msg.ID); s != want || err != nil {
				t.Fatalf("commit=%v: a later check-back answered %s, %v", commit, s, err)
			}
			if paid(t, db, "pay-"+msg.ID) != commit {
				t.Fatalf("commit=%v: payment row present = %v", commit, !commit)
			}
			if commit {
				devcourier.WaitStatus(t, c, msg.ID, wire.StatusDelivered)
			} else {
				devcourier.WaitStatus(t, c, msg.ID, wire.StatusCancelled)
			}
		}
	})
}

// TestCheckBackBeforeTheTransaction: ROLLED_BACK answered before the
// transaction began stays true: the transaction cannot commit.
func TestCheckBackBeforeTheTransaction(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.DB) {
		p, _ := setup(t, db, nil)
		id := client.NewID()
		if s, err := p.Check(t.Context(), id); s != "ROLLED_BACK" || err != nil {
			t.Fatalf("no transaction: %s, %v", s, err)
		}
		ran := false
		err := p.Transaction(t.Context(), &client.Message{ID: id, Topic: "payments", Payload: []byte(`{}`), Policy: later}, func(tx *sql.Tx) error {
			ran = true
			return nil
		})
		if !errors.Is(err, producer.ErrCheckedBack) || ran {
			t.Fatalf("transaction after ROLLED_BACK: %v (business ran: %v)", err, ran)
		}
		if s, _ := p.Check(t.Context(), id); s != "ROLLED_BACK" {
			t.Fatalf("the answer changed to %s", s)
		}
	})
}

// lostConfirm is a Courier whose confirms never arrive.
type lostConfirm struct{ *client.Client }

func (lostConfirm) Confirm(context.Context, string, string) (wire.SignalResponse, error) {
	return wire.SignalResponse{}, errors.New("connection reset")
}

// TestCourierChecksBack: the confirm is lost after the commit; Courier's own
// check-back, through the handler, confirms the message.
func TestCourierChecksBack(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.DB) {
		c := courier.Client(t)
		p, _ := setup(t, db, lostConfirm{c})
		msg := &client.Message{Topic: "payments", Payload: []byte(`{}`)}
		if err := p.Transaction(t.Context(), msg, pay(db, "lost-"+client.NewID())); err != nil {
			t.Fatal(err)
		}
		devcourier.WaitStatus(t, c, msg.ID, wire.StatusDelivered)
	})
}

func TestCleanup(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	p, _ := setup(t, db, nil)
	if _, err := p.Check(t.Context(), "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Cleanup(t.Context(), time.Minute); err == nil {
		t.Fatal("a retention under an hour is refused")
	}
	testdb.Exec(t, db.DB, "UPDATE courier_barrier SET created_at = ?", time.Now().Add(-48*time.Hour).UnixMilli())
	if _, err := p.Check(t.Context(), "new"); err != nil {
		t.Fatal(err)
	}
	n, err := p.Cleanup(t.Context(), 24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("cleanup deleted %d, %v", n, err)
	}
}

// TestCheckHandlerNeverGuesses: a check-back the handler cannot answer from
// the database is UNKNOWN with a non-2xx status, never a verdict; its span
// says the answer it gave, UNKNOWN, with an error status.
func TestCheckHandlerNeverGuesses(t *testing.T) {
	spans := &spanRecorder{}
	otel.SetTracerProvider(spans)
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	db := testdb.Open(t, "sqlite")
	p, _ := setup(t, db, nil)
	h := p.CheckHandler()
	call := func(method, body string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/check", strings.NewReader(body)))
		return rec.Code, rec.Body.String()
	}
	if code, body := call(http.MethodPost, `{"message_id":"m-1"}`); code != http.StatusOK || !strings.Contains(body, `"ROLLED_BACK"`) {
		t.Fatalf("no transaction: %d %s", code, body)
	}
	if code, _ := call(http.MethodGet, ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", code)
	}
	if code, body := call(http.MethodPost, `{"id":"m-2"}`); code != http.StatusBadRequest || !strings.Contains(body, `"UNKNOWN"`) {
		t.Fatalf("no message_id: %d %s", code, body)
	}
	if err := db.DB.Close(); err != nil {
		t.Fatal(err)
	}
	if code, body := call(http.MethodPost, `{"message_id":"m-3"}`); code != http.StatusServiceUnavailable || !strings.Contains(body, `"UNKNOWN"`) {
		t.Fatalf("database gone: %d %s", code, body)
	}
	for id, want := range map[string]string{"m-1": "ROLLED_BACK", "m-3": "UNKNOWN"} {
		s := spans.find("check-back answer", id)
		if s == nil {
			t.Fatalf("no check-back answer span of %s", id)
		}
		if got := s.attrs["courier.check.answer"]; got != want {
			t.Errorf("%s: courier.check.answer %q, answered %s", id, got, want)
		}
	}
	if s := spans.find("check-back answer", "m-3"); s.status != codes.Error {
		t.Errorf("the unknown answer's span has status %v", s.status)
	}
}
