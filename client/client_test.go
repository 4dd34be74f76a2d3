package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/internal/devcourier"
	"github.com/courier-mq/courier/client/wire"
)

// courier is the real Courier every test of this package talks to.
var courier *devcourier.Courier

func TestMain(m *testing.M) { devcourier.RunTests(m, &courier) }

// must returns v, failing t on err: must(c.Get(ctx, id))(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestEveryRoute(t *testing.T) {
	t.Parallel()
	c := courier.Client(t)
	ctx := t.Context()
	check := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"UNKNOWN"}`))
	}))
	t.Cleanup(check.Close)

	// Prepare, prepare again (a retry), confirm, complete.
	msg := &client.Message{Topic: "client-test", Key: "k", Payload: []byte{0, 1, 2, 0xff}, CheckURL: check.URL, Producer: "orders"}
	p := must(c.Prepare(ctx, msg))(t)
	if msg.ID == "" || p.ID != msg.ID || !p.Created || p.Status != wire.StatusWaitingConfirm {
		t.Fatalf("prepare: %+v (id %q)", p, msg.ID)
	}
	again := must(c.Prepare(ctx, msg))(t)
	if again.Created || again.Status != wire.StatusWaitingConfirm {
		t.Fatalf("a repeated prepare is answered as a retry: %+v", again)
	}
	changed := *msg
	changed.Payload = []byte("other")
	if _, err := c.Prepare(ctx, &changed); !errors.Is(err, client.ErrIDConflict) {
		t.Fatalf("same id, other content: %v", err)
	}
	a := must(c.Confirm(ctx, msg.ID, "committed"))(t)
	if a.Outcome != wire.Applied || a.Status != wire.StatusSending || a.PreviousStatus != wire.StatusWaitingConfirm || a.Reason != "" {
		t.Fatalf("confirm: %+v", a)
	}
	if a := must(c.Confirm(ctx, msg.ID, ""))(t); a.Outcome != wire.Repeated || a.Status != a.PreviousStatus || a.Reason != "message is already confirmed" {
		t.Fatalf("confirm again: %+v", a)
	}
	if _, err := c.Cancel(ctx, msg.ID, ""); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("cancel after confirm: %v", err)
	}
	devcourier.WaitStatus(t, c, msg.ID, wire.StatusDelivered)
	if a := must(c.Complete(ctx, msg.ID, "accounting"))(t); a.Outcome != wire.Applied {
		t.Fatalf("complete: %+v", a)
	}
	v := devcourier.WaitStatus(t, c, msg.ID, wire.StatusCompleted)
	if b, err := v.Bytes(); err != nil || string(b) != string(msg.Payload) {
		t.Fatalf("payload read back: %q, %v", b, err)
	}
	if st := must(c.State(ctx, msg.ID))(t); st.Status != wire.StatusCompleted {
		t.Fatalf("live state: %+v", st)
	}

	// Cancel.
	cancelled := &client.Message{Topic: "client-test", Payload: []byte("x"), CheckURL: check.URL}
	must(c.Prepare(ctx, cancelled))(t)
	if a := must(c.Cancel(ctx, cancelled.ID, "rolled back"))(t); a.Outcome != wire.Applied {
		t.Fatalf("cancel: %+v", a)
	}
	devcourier.WaitStatus(t, c, cancelled.ID, wire.StatusCancelled)

	// Send; never completed, so DEAD after the resends; then redrive.
	sent := &client.Message{Topic: "client-dead", Payload: []byte("y"), Policy: &client.Policy{ResendIntervals: []time.Duration{time.Second}}}
	if p := must(c.Send(ctx, sent))(t); p.Status != wire.StatusSending {
		t.Fatalf("send: %+v", p)
	}
	devcourier.WaitStatus(t, c, sent.ID, wire.StatusDead)
	if a := must(c.Redrive(ctx, sent.ID, "fixed"))(t); a.Outcome != wire.Applied {
		t.Fatalf("redrive: %+v", a)
	}
	devcourier.WaitStatus(t, c, sent.ID, wire.StatusDead)
	r := must(c.RedriveDead(ctx, "client-dead", 10, "again"))(t)
	if r.Redriven != 1 || len(r.Failed) != 0 {
		t.Fatalf("bulk redrive: %+v", r)
	}

	// Reads.
	page := must(c.List(ctx, client.Filter{Topic: "client-test", Limit: 1}))(t)
	if len(page.Messages) != 1 || page.NextCursor == "" {
		t.Fatalf("list page 1: %+v", page)
	}
	page = must(c.List(ctx, client.Filter{Topic: "client-test", Limit: 1, Cursor: page.NextCursor}))(t)
	if len(page.Messages) != 1 {
		t.Fatalf("list page 2: %+v", page)
	}
	byKey := must(c.List(ctx, client.Filter{Topic: "client-test", Key: "k"}))(t)
	if !slices.ContainsFunc(byKey.Messages, func(m wire.Message) bool { return m.ID == msg.ID }) ||
		slices.ContainsFunc(byKey.Messages, func(m wire.Message) bool { return m.Key != "k" }) {
		t.Fatalf("list by key: %+v", byKey)
	}
	for _, m := range byKey.Messages {
		if m.StatusAt == nil || m.StatusAt.Before(m.CreatedAt) {
			t.Fatalf("list item %s: status_at %v, created_at %s; the mirror says since when it is %s", m.ID, m.StatusAt, m.CreatedAt, m.Status)
		}
	}
	if none := must(c.List(ctx, client.Filter{Topic: "client-test", Key: "no-such-key"}))(t); len(none.Messages) != 0 {
		t.Fatalf("list by an unknown key: %+v", none)
	}
	stats := must(c.Stats(ctx))(t)
	if stats.Total < 3 || stats.ByStatus[wire.StatusCompleted] < 1 {
		t.Fatalf("stats: %+v", stats)
	}

	// Errors.
	if _, err := c.Get(ctx, "no-such-message"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
	if _, err := c.Prepare(ctx, &client.Message{Topic: "client-test", Payload: []byte("z")}); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("prepare without check_url: %v", err)
	}
}

func TestRetriesUntilTheGatewayAnswers(t *testing.T) {
	t.Parallel()
	var calls int
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":{"code":"unavailable","message":"Temporal is unavailable, retry later"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"id":"m","status":"DELIVERED","outcome":"repeated"}`))
	}))
	t.Cleanup(flaky.Close)
	c := must(client.New(client.Config{URL: flaky.URL, Backoff: time.Millisecond}))(t)
	a := must(c.Confirm(t.Context(), "m", ""))(t)
	if a.Outcome != wire.Repeated || calls != 3 {
		t.Fatalf("%+v after %d calls", a, calls)
	}

	calls = -100
	c = must(client.New(client.Config{URL: flaky.URL, Attempts: 2, Backoff: time.Millisecond}))(t)
	if _, err := c.Confirm(t.Context(), "m", ""); !errors.Is(err, client.ErrUnavailable) || calls != -98 {
		t.Fatalf("gives up after 2 attempts: %v, %d calls", err, calls+100)
	}

	// A refusal is not retried.
	calls = 0
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"error":{"code":"conflict","message":"cancel: message is already confirmed"}}`))
	}))
	t.Cleanup(refusing.Close)
	c = must(client.New(client.Config{URL: refusing.URL, Backoff: time.Millisecond}))(t)
	if _, err := c.Cancel(context.Background(), "m", ""); !errors.Is(err, client.ErrConflict) || calls != 1 {
		t.Fatalf("conflict: %v after %d calls", err, calls)
	}
}
