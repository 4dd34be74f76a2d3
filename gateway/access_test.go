package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-mq/courier/client/wire"

	"github.com/stretchr/testify/require"
)

// who is one caller of the keyed gateway: an identity's key, or none.
type who struct{ name, key string }

var (
	asOrders     = who{orders, producerKey}
	asBilling    = who{billing, billingKey}
	asPayments   = who{"payments", paymentsKey}
	asAccounting = who{"accounting", consumerKey}
	asShipping   = who{"shipping", shippingKey}
	asAudit      = who{"audit", auditKey}
	asOps        = who{"ops", adminKey}
	asOpsNext    = who{"ops", adminNextKey}
	asNobody     = who{"no key", ""}
	asStranger   = who{"unknown key", "not-a-configured-key-0123"}
	// everyone calls every route of the matrix.
	everyone = []who{asOrders, asBilling, asPayments, asAccounting, asShipping, asAudit, asOps, asOpsNext, asNobody, asStranger}
)

// label names a caller in a subtest.
func (w who) label() string {
	if w.key == adminNextKey {
		return "ops-next-key"
	}
	return strings.ReplaceAll(w.name, " ", "-")
}

// expect is the status each caller gets; callers not listed get 403, and
// callers without a valid key 401. A key refused a message it may not see
// (another producer's, one it may not complete) gets 404, as for an unknown
// id: those are listed.
func expect(w who, allowed map[who]int) int {
	if w == asNobody || w == asStranger {
		return http.StatusUnauthorized
	}
	if s, ok := allowed[w]; ok {
		return s
	}
	return http.StatusForbidden
}

// snapshot is what a refused request must not change: the workflow's status,
// revision and signals, and the mirror row's status.
type snapshot struct {
	status   wire.Status
	revision int64
	signals  int
	mirror   wire.Status
}

func (e *env) snapshot(t *testing.T, id string) snapshot {
	t.Helper()
	st, err := e.stack.Messages.State(t.Context(), id)
	require.NoError(t, err)
	var mirror wire.Status
	require.Eventually(t, func() bool {
		row, err := e.stack.Store.Get(t.Context(), id)
		if err == nil && row.Status == st.Status {
			mirror = row.Status
			return true
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "mirror of %s never caught up with %s", id, st.Status)
	return snapshot{status: st.Status, revision: st.Revision, signals: len(st.Signals), mirror: mirror}
}

// testAccessMatrix calls every route as every identity, on messages of the
// caller's own and of others, over real HTTP, and checks the status code;
// where the answer is a refusal, that nothing changed.
func testAccessMatrix(t *testing.T, e *env) {
	var seq atomic.Int64
	newID := func(what string) string { return fmt.Sprintf("acl-%s-%d", what, seq.Add(1)) }
	// waiting prepares a message of orders-svc that stays WAITING_CONFIRM.
	waiting := func(t *testing.T) string {
		id := newID("w")
		r := e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages", Key: producerKey, JSON: map[string]any{
			"id": id, "topic": topic, "payload": 1, "check_url": e.stack.Checks.URL,
			"policy": map[string]any{"check_delay": "5m"},
		}})
		require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)
		return id
	}
	// delivered sends a message of orders-svc, naming consumers, and waits
	// until it is DELIVERED.
	delivered := func(t *testing.T, consumers ...string) string {
		id := newID("d")
		body := map[string]any{"id": id, "topic": topic, "payload": 1, "policy": map[string]any{"resend_intervals": []string{"1h"}}}
		if len(consumers) > 0 {
			body["consumers"] = consumers
		}
		r := e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages/send", Key: producerKey, JSON: body})
		require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)
		require.Eventually(t, func() bool { return e.snapshotNoFail(id) == wire.StatusDelivered }, 30*time.Second, 50*time.Millisecond)
		return id
	}
	// onMessage runs call on message id, asserts its status code and, when
	// the answer is a refusal, that the message is as it was.
	onMessage := func(t *testing.T, id string, want int, call func() response) response {
		before := e.snapshot(t, id)
		r := call()
		require.Equal(t, want, r.Status, "body: %s", r.Body)
		if want == http.StatusUnauthorized || want == http.StatusForbidden || want == http.StatusNotFound {
			require.Equal(t, before, e.snapshot(t, id), "a refused request changed message %s", id)
		}
		return r
	}

	t.Run("prepare and send", func(t *testing.T) {
		t.Parallel()
		allowed := map[who]int{asOrders: 201, asBilling: 201, asOps: 201, asOpsNext: 201}
		for _, path := range []string{"/v1/messages", "/v1/messages/send"} {
			for _, w := range everyone {
				t.Run(path+"/"+w.label(), func(t *testing.T) {
					t.Parallel()
					id := newID("p")
					want := expect(w, allowed)
					r := e.keyed.do(t, request{Method: http.MethodPost, Path: path, Key: w.key, JSON: map[string]any{
						"id": id, "topic": topic, "payload": 1, "check_url": e.stack.Checks.URL,
						"policy": map[string]any{"check_delay": "5m"},
					}})
					require.Equal(t, want, r.Status, "body: %s", r.Body)
					if want != http.StatusCreated {
						e.keyed.requireAbsentAs(t, id, adminKey)
						return
					}
					// The key's name is the producer: in the workflow's search
					// attributes, the mirror and, once sent, the Kafka headers.
					// An admin names none unless its body does.
					producer := w.name
					if w.name == "ops" {
						producer = ""
					}
					o, err := e.stack.Messages.Owner(t.Context(), id)
					require.NoError(t, err)
					require.Equal(t, producer, o.Producer)
					require.Eventually(t, func() bool {
						row, err := e.stack.Store.Get(t.Context(), id)
						return err == nil && row.Producer == producer
					}, 30*time.Second, 50*time.Millisecond)
					if path == "/v1/messages/send" {
						rec := e.stack.Kafka.Wait(t, id, 1)[0]
						got, ok := rec.Headers[wire.HeaderProducer]
						require.Equal(t, producer != "", ok)
						require.Equal(t, producer, got)
					}
				})
			}
		}
		t.Run("claiming another producer", func(t *testing.T) {
			t.Parallel()
			id := newID("p")
			r := e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages/send", Key: producerKey, JSON: map[string]any{
				"id": id, "topic": topic, "payload": 1, "producer": billing,
			}})
			requireError(t, r, http.StatusForbidden, "forbidden")
			e.keyed.requireAbsentAs(t, id, adminKey)
			// Naming itself is the same as naming nobody.
			r = e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages/send", Key: producerKey, JSON: map[string]any{
				"id": id, "topic": topic, "payload": 1, "producer": orders,
			}})
			require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)
		})
		t.Run("a topic the key is not granted", func(t *testing.T) {
			t.Parallel()
			id := newID("p")
			r := e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages/send", Key: billingKey, JSON: map[string]any{
				"id": id, "topic": bulkTopic, "payload": 1,
			}})
			require.Contains(t, requireError(t, r, http.StatusForbidden, "forbidden"), "may not produce to topic")
			e.keyed.requireAbsentAs(t, id, adminKey)
		})
	})

	for _, action := range []string{"confirm", "cancel"} {
		t.Run(action, func(t *testing.T) {
			t.Parallel()
			// Other producers are told the message does not exist;
			// consumers lack the role whatever the message.
			allowed := map[who]int{asOrders: 200, asOps: 200, asOpsNext: 200, asBilling: 404, asPayments: 404}
			for _, w := range everyone {
				t.Run(w.label(), func(t *testing.T) {
					t.Parallel()
					id := waiting(t)
					want := expect(w, allowed)
					onMessage(t, id, want, func() response {
						return e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages/" + id + "/" + action, Key: w.key, JSON: map[string]string{"reason": "matrix"}})
					})
					if want == http.StatusOK {
						st, err := e.stack.Messages.State(t.Context(), id)
						require.NoError(t, err)
						require.Len(t, st.Signals, 1)
						require.Equal(t, w.name, st.Signals[0].By)
					}
				})
			}
		})
	}

	t.Run("complete", func(t *testing.T) {
		t.Parallel()
		// Any consumer of the topic completes a message that names no
		// consumers; one that names them only by those it names. A consumer
		// the message is not for is told it does not exist.
		unnamed := map[who]int{asAccounting: 200, asShipping: 200, asOps: 200, asOpsNext: 200, asAudit: 404}
		named := map[who]int{asAccounting: 200, asOps: 200, asOpsNext: 200, asShipping: 404, asAudit: 404}
		for name, allowed := range map[string]map[who]int{"unnamed": unnamed, "naming accounting": named} {
			for _, w := range everyone {
				t.Run(name+"/"+w.label(), func(t *testing.T) {
					t.Parallel()
					var id string
					var body any
					if name == "unnamed" {
						id = delivered(t)
					} else {
						id = delivered(t, "accounting")
						if w.name == "ops" {
							body = map[string]string{"consumer": "accounting"}
						}
					}
					want := expect(w, allowed)
					onMessage(t, id, want, func() response {
						return e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages/" + id + "/complete", Key: w.key, JSON: body})
					})
					if want == http.StatusOK {
						require.Eventually(t, func() bool { return e.snapshotNoFail(id) == wire.StatusCompleted }, 30*time.Second, 50*time.Millisecond)
					}
				})
			}
		}
		t.Run("as another consumer", func(t *testing.T) {
			t.Parallel()
			id := delivered(t, "accounting", "shipping")
			onMessage(t, id, http.StatusForbidden, func() response {
				return e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages/" + id + "/complete", Key: shippingKey, JSON: map[string]string{"consumer": "accounting"}})
			})
			r := e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages/" + id + "/complete", Key: consumerKey, JSON: map[string]string{"consumer": "accounting"}})
			require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
			st, err := e.stack.Messages.State(t.Context(), id)
			require.NoError(t, err)
			require.Equal(t, []string{"accounting"}, st.CompletedBy, "shipping's key did not complete as accounting")
		})
	})

	t.Run("redrive one", func(t *testing.T) {
		t.Parallel()
		// Past access, an admin's re-drive of a message that is not DEAD is
		// the workflow's own 409.
		allowed := map[who]int{asOps: 409, asOpsNext: 409}
		for _, w := range everyone {
			t.Run(w.label(), func(t *testing.T) {
				t.Parallel()
				id := waiting(t)
				onMessage(t, id, expect(w, allowed), func() response {
					return e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages/" + id + "/redrive", Key: w.key})
				})
			})
		}
	})

	t.Run("read one", func(t *testing.T) {
		t.Parallel()
		own := waiting(t)
		sent := delivered(t, "accounting")
		for _, c := range []struct {
			id      string
			allowed map[who]int
		}{
			// A producer reads its own; a consumer what it may complete.
			// Everyone else with a key is told the message does not exist.
			{own, map[who]int{asOrders: 200, asAccounting: 200, asShipping: 200, asOps: 200, asOpsNext: 200, asBilling: 404, asPayments: 404, asAudit: 404}},
			{sent, map[who]int{asOrders: 200, asAccounting: 200, asOps: 200, asOpsNext: 200, asBilling: 404, asPayments: 404, asShipping: 404, asAudit: 404}},
		} {
			for _, w := range everyone {
				for _, live := range []string{"", "?live=1"} {
					r := e.keyed.do(t, request{Method: http.MethodGet, Path: "/v1/messages/" + c.id + live, Key: w.key})
					require.Equal(t, expect(w, c.allowed), r.Status, "%s reads %s%s: %s", w.label(), c.id, live, r.Body)
				}
			}
		}
	})

	t.Run("list and stats", func(t *testing.T) {
		t.Parallel()
		mine := waiting(t)
		theirs := newID("b")
		r := e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages", Key: billingKey, JSON: map[string]any{
			"id": theirs, "topic": topic, "payload": 1, "check_url": e.stack.Checks.URL, "policy": map[string]any{"check_delay": "5m"},
		}})
		require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)
		for _, id := range []string{mine, theirs} {
			e.snapshot(t, id) // in the mirror
		}
		list := func(w who, query string) (int, map[string]string) {
			r := e.keyed.do(t, request{Method: http.MethodGet, Path: "/v1/messages?limit=500" + query, Key: w.key})
			producers := map[string]string{}
			if r.Status == http.StatusOK {
				for _, m := range decode[struct{ Messages []view }](t, r).Messages {
					producers[m.ID] = m.Producer
				}
			}
			return r.Status, producers
		}
		for _, w := range everyone {
			status, producers := list(w, "")
			require.Equal(t, expect(w, map[who]int{asOrders: 200, asBilling: 200, asPayments: 200, asOps: 200, asOpsNext: 200}), status, w.label())
			switch w {
			case asOrders, asBilling, asPayments:
				for id, p := range producers {
					require.Equal(t, w.name, p, "%s listed %s", w.label(), id)
				}
			case asOps, asOpsNext:
				require.Equal(t, orders, producers[mine])
				require.Equal(t, billing, producers[theirs])
			}
			r := e.keyed.do(t, request{Method: http.MethodGet, Path: "/v1/stats", Key: w.key})
			require.Equal(t, expect(w, map[who]int{asOps: 200, asOpsNext: 200}), r.Status, "stats as %s", w.label())
		}
		_, producers := list(asOrders, "")
		require.Contains(t, producers, mine)
		require.NotContains(t, producers, theirs)
		status, _ := list(asOrders, "&producer="+billing)
		require.Equal(t, http.StatusForbidden, status, "a producer lists another's messages")
		status, producers = list(asOrders, "&producer="+orders)
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, producers, mine)
		_, producers = list(asOps, "&producer="+billing)
		require.Contains(t, producers, theirs)
		require.NotContains(t, producers, mine)
	})

	t.Run("bulk redrive", func(t *testing.T) {
		t.Parallel()
		for _, w := range everyone {
			r := e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages/redrive", Key: w.key, JSON: map[string]any{"topic": "acl-nothing-dead"}})
			require.Equal(t, expect(w, map[who]int{asOps: 200, asOpsNext: 200}), r.Status, "%s: %s", w.label(), r.Body)
		}
	})
}

// testHiddenIsUnknown: a key refused a message it may not see gets the very
// answer it gets for an id that does not exist, byte for byte, on every
// route that names the id, so that it cannot learn which ids exist.
func testHiddenIsUnknown(t *testing.T, e *env) {
	const id = "acl-hidden-1"
	type call struct {
		w    who
		req  request
		what string
	}
	var calls []call
	for _, w := range []who{asBilling, asShipping, asAudit} {
		for _, q := range []string{"", "?live=1"} {
			calls = append(calls, call{w, request{Method: http.MethodGet, Path: "/v1/messages/" + id + q}, "get" + q})
		}
	}
	for _, action := range []string{"confirm", "cancel"} {
		calls = append(calls, call{asBilling, request{Method: http.MethodPost, Path: "/v1/messages/" + id + "/" + action, JSON: map[string]string{"reason": "r"}}, action})
	}
	for _, w := range []who{asShipping, asAudit} {
		calls = append(calls,
			call{w, request{Method: http.MethodPost, Path: "/v1/messages/" + id + "/complete"}, "complete"},
			call{w, request{Method: http.MethodPost, Path: "/v1/messages/" + id + "/complete", JSON: map[string]string{"consumer": "accounting"}}, "complete as accounting"})
	}
	do := func(c call) response {
		c.req.Key = c.w.key
		return e.keyed.do(t, c.req)
	}
	unknown := make([]response, len(calls))
	for i, c := range calls {
		unknown[i] = do(c)
		requireError(t, unknown[i], http.StatusNotFound, "not_found")
	}
	r := e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages", Key: producerKey, JSON: map[string]any{
		"id": id, "topic": topic, "payload": 1, "check_url": e.stack.Checks.URL, "consumers": []string{"accounting"},
		"policy": map[string]any{"check_delay": "5m"},
	}})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)
	e.snapshot(t, id) // in the workflow and the mirror
	for i, c := range calls {
		got := do(c)
		require.Equal(t, unknown[i].Status, got.Status, "%s as %s", c.what, c.w.label())
		require.Equal(t, string(unknown[i].Body), string(got.Body), "%s as %s", c.what, c.w.label())
		require.Equal(t, unknown[i].Header.Get("Content-Type"), got.Header.Get("Content-Type"))
	}
	// The message's own producer sees it.
	require.Equal(t, http.StatusOK, e.keyed.do(t, request{Method: http.MethodGet, Path: "/v1/messages/" + id, Key: producerKey}).Status)
}

// snapshotNoFail is the workflow's status of id, or "" while it cannot be
// read, for polling.
func (e *env) snapshotNoFail(id string) wire.Status {
	st, err := e.stack.Messages.State(context.Background(), id)
	if err != nil {
		return ""
	}
	return st.Status
}

// requireAbsentAs asserts, with key, that no message id exists.
func (a *api) requireAbsentAs(t *testing.T, id, key string) {
	t.Helper()
	for _, q := range []string{"", "?live=1"} {
		requireError(t, a.do(t, request{Method: http.MethodGet, Path: "/v1/messages/" + id + q, Key: key}), http.StatusNotFound, "not_found")
	}
}

// testRefusalsCounted checks that every refused request is counted in
// courier_gateway_refused_requests_total by its reason.
func testRefusalsCounted(t *testing.T, e *env) {
	count := func(reason string) float64 {
		r := e.keyed.get(t, "/metrics")
		var v float64
		prefix := `courier_gateway_refused_requests_total{reason="` + reason + `"} `
		for _, line := range strings.Split(string(r.Body), "\n") {
			if strings.HasPrefix(line, prefix) {
				_, err := fmt.Sscan(strings.TrimPrefix(line, prefix), &v)
				require.NoError(t, err)
				return v
			}
		}
		t.Fatalf("no %s in /metrics", prefix)
		return 0
	}
	id := "acl-counted-1"
	r := e.keyed.do(t, request{Method: http.MethodPost, Path: "/v1/messages", Key: producerKey, JSON: map[string]any{
		"id": id, "topic": topic, "payload": 1, "check_url": e.stack.Checks.URL, "policy": map[string]any{"check_delay": "5m"},
	}})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)
	for _, c := range []struct {
		reason string
		req    request
	}{
		{"no_key", request{Method: http.MethodGet, Path: "/v1/stats"}},
		{"bad_key", request{Method: http.MethodGet, Path: "/v1/stats", Key: "not-a-configured-key-0123"}},
		{"role", request{Method: http.MethodGet, Path: "/v1/stats", Key: producerKey}},
		{"topic", request{Method: http.MethodPost, Path: "/v1/messages/send", Key: paymentsKey, JSON: map[string]any{"topic": topic, "payload": 1}}},
		{"owner", request{Method: http.MethodPost, Path: "/v1/messages/" + id + "/cancel", Key: billingKey}},
		{"identity", request{Method: http.MethodPost, Path: "/v1/messages/send", Key: producerKey, JSON: map[string]any{"topic": topic, "payload": 1, "producer": billing}}},
	} {
		// Other subtests refuse requests at the same time: the count grows
		// by at least this one.
		before := count(c.reason)
		r := e.keyed.do(t, c.req)
		require.Contains(t, []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound}, r.Status, "%s: %s", c.reason, r.Body)
		require.GreaterOrEqual(t, count(c.reason), before+1, c.reason)
	}
}
