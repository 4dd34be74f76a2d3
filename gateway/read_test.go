package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
)

func testGet(t *testing.T, e *env) {
	const id = "get-1"
	body := e.message(id)
	body["consumers"] = []string{"accounting"}
	require.Equal(t, http.StatusCreated, e.open.post(t, "/v1/messages", body).Status)

	v := e.open.waitStatus(t, id, wire.StatusWaitingConfirm)
	require.Equal(t, id, v.ID)
	require.Equal(t, topic, v.Topic)
	require.Equal(t, "customer-"+id, v.Key)
	require.JSONEq(t, `{"order":"get-1","amount":42}`, string(v.Payload))
	require.Nil(t, v.PayloadBase64)
	require.Equal(t, map[string]string{"trace-id": "t-" + id}, v.Headers)
	require.Equal(t, "orders-svc", v.Producer)
	require.Equal(t, []string{"accounting"}, v.Consumers)
	require.WithinDuration(t, time.Now(), v.CreatedAt, time.Minute)
	require.NotNil(t, v.StatusAt, "the mirror says since when the message is WAITING_CONFIRM")
	require.False(t, v.StatusAt.Before(v.CreatedAt), "status_at %s before created_at %s", v.StatusAt, v.CreatedAt)
	waitingSince := *v.StatusAt

	require.Equal(t, http.StatusOK, e.open.post(t, "/v1/messages/"+id+"/confirm", nil).Status)
	// The live view is the same Message, with the workflow's record added.
	var st wire.Message
	require.Eventually(t, func() bool {
		st = wire.Message{}
		return e.open.tryJSON("/v1/messages/"+id+"?live=1", &st) && st.Status == wire.StatusDelivered
	}, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, id, st.ID)
	require.Equal(t, wire.SourceWorkflow, st.Source)
	require.Equal(t, "customer-"+id, st.Key)
	require.JSONEq(t, `{"order":"get-1","amount":42}`, string(st.Payload))
	require.Equal(t, "orders-svc", st.Producer)
	require.Equal(t, []string{"accounting"}, st.Consumers)
	require.Positive(t, st.Revision)
	require.Len(t, st.Signals, 1)
	require.Equal(t, contract.SignalConfirm, st.Signals[0].Name)
	require.Equal(t, wire.Applied, st.Signals[0].Outcome)
	require.Equal(t, "anonymous", st.Signals[0].By)
	require.Len(t, st.Publishes, 1)
	require.NotNil(t, st.NextAt, "the resend timer runs")
	var raw map[string]any
	require.True(t, e.open.tryJSON("/v1/messages/"+id+"?live=1", &raw))
	require.NotContains(t, raw, "message_id", "one vocabulary: the id is id")
	require.NotContains(t, raw, "status_at", "the live view's status is the workflow's; the mirror's status_at may be of an older one")
	delivered := e.open.waitStatus(t, id, wire.StatusDelivered)
	require.NotNil(t, delivered.StatusAt)
	require.True(t, delivered.StatusAt.After(waitingSince), "status_at moved with the status: %s, WAITING_CONFIRM since %s", delivered.StatusAt, waitingSince)

	requireError(t, e.open.get(t, "/v1/messages/"+id+"?live=maybe"), http.StatusBadRequest, "invalid_request")
	requireError(t, e.open.get(t, "/v1/messages/"+id+"?verbose=1"), http.StatusBadRequest, "invalid_request")
}

// listPage is GET /v1/messages.
type listPage struct {
	Messages   []map[string]any `json:"messages"`
	NextCursor string           `json:"next_cursor"`
}

func testList(t *testing.T, e *env) {
	const producer = "list-producer"
	ids := []string{"list-1", "list-2", "list-3"}
	for _, id := range ids {
		body := e.message(id)
		body["producer"] = producer
		require.Equal(t, http.StatusCreated, e.open.post(t, "/v1/messages", body).Status)
	}
	other := e.message("list-other")
	other["producer"] = "other-producer"
	require.Equal(t, http.StatusCreated, e.open.post(t, "/v1/messages", other).Status)
	for _, id := range append(ids, "list-other") {
		e.open.waitStatus(t, id, wire.StatusWaitingConfirm)
	}

	list := func(q url.Values) listPage {
		t.Helper()
		r := e.open.get(t, "/v1/messages?"+q.Encode())
		require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
		return decode[listPage](t, r)
	}
	// Two pages of the producer's messages, newest first, nothing twice.
	first := list(url.Values{"producer": {producer}, "limit": {"2"}})
	require.Len(t, first.Messages, 2)
	require.NotEmpty(t, first.NextCursor)
	second := list(url.Values{"producer": {producer}, "limit": {"2"}, "cursor": {first.NextCursor}})
	require.Len(t, second.Messages, 1)
	require.Empty(t, second.NextCursor)
	var got []string
	var last time.Time
	for i, m := range append(first.Messages, second.Messages...) {
		got = append(got, m["id"].(string))
		require.NotContains(t, m, "payload", "list items carry no payload")
		require.NotContains(t, m, "payload_base64")
		created, err := time.Parse(time.RFC3339Nano, m["created_at"].(string))
		require.NoError(t, err)
		if i > 0 {
			require.False(t, created.After(last), "newest first")
		}
		last = created
	}
	require.ElementsMatch(t, ids, got)

	// Filters combine.
	require.Equal(t, http.StatusOK, e.open.post(t, "/v1/messages/list-2/cancel", nil).Status)
	e.open.waitStatus(t, "list-2", wire.StatusCancelled)
	page := list(url.Values{"producer": {producer}, "status": {string(wire.StatusCancelled)}, "topic": {topic}})
	require.Len(t, page.Messages, 1)
	require.Equal(t, "list-2", page.Messages[0]["id"])
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	require.Empty(t, list(url.Values{"producer": {producer}, "created_from": {future}}).Messages)
	require.Len(t, list(url.Values{"producer": {producer}, "created_to": {future}}).Messages, 3)

	// By key, exactly: e.message gives each message the key customer-<id>.
	byKey := list(url.Values{"key": {"customer-list-3"}})
	require.Len(t, byKey.Messages, 1)
	require.Equal(t, "list-3", byKey.Messages[0]["id"])
	require.Equal(t, "customer-list-3", byKey.Messages[0]["key"])
	require.Empty(t, list(url.Values{"key": {"customer-list"}}).Messages, "no prefix match")
	require.Empty(t, list(url.Values{"key": {"customer-list-3"}, "status": {string(wire.StatusCancelled)}}).Messages, "combined with the other filters")
	require.Contains(t, requireError(t, e.open.get(t, "/v1/messages?key="+strings.Repeat("k", wire.MaxKeyLen+1)), http.StatusBadRequest, "invalid_request"),
		"key is longer than 1024 characters")
	require.Contains(t, requireError(t, e.open.get(t, "/v1/messages?key=%FF%FE"), http.StatusBadRequest, "invalid_request"), "key is not valid UTF-8")

	for _, q := range []string{
		"key=a&key=b",
		"status=LOST", "status=waiting_confirm", "topic=a/b", "producer=a%20b", "limit=0", "limit=501", "limit=ten",
		"created_from=yesterday", "created_to=2024-13-01T00:00:00Z", "cursor=not-a-cursor", "sort=id",
		"status=DEAD&status=SENDING",
	} {
		requireError(t, e.open.get(t, "/v1/messages?"+q), http.StatusBadRequest, "invalid_request")
	}
}

func testStats(t *testing.T, e *env) {
	require.Equal(t, http.StatusCreated, e.open.post(t, "/v1/messages", e.message("stats-1")).Status)
	e.open.waitStatus(t, "stats-1", wire.StatusWaitingConfirm)
	r := e.open.get(t, "/v1/stats")
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	var stats struct {
		ByStatus map[wire.Status]int64 `json:"by_status"`
		Total    int64                 `json:"total"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &stats))
	require.Len(t, stats.ByStatus, len(wire.Statuses))
	var sum int64
	for _, s := range wire.Statuses {
		require.Contains(t, stats.ByStatus, s)
		sum += stats.ByStatus[s]
	}
	require.Equal(t, sum, stats.Total)
	require.GreaterOrEqual(t, stats.ByStatus[wire.StatusWaitingConfirm], int64(1))
	requireError(t, e.open.get(t, "/v1/stats?topic=orders"), http.StatusBadRequest, "invalid_request")
}
