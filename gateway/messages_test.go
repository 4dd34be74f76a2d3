package gateway_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
)

func testPrepareIdempotency(t *testing.T, e *env) {
	body := e.message("idem-1")
	r := e.open.post(t, "/v1/messages", body)
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)
	require.Equal(t, prepareResponse{ID: "idem-1", Status: wire.StatusWaitingConfirm}, decode[prepareResponse](t, r))

	// The same request again, with its fields in another order, is a retry.
	// (The payload is kept byte for byte, so it must be the same bytes.)
	r = e.open.do(t, request{Method: http.MethodPost, Path: "/v1/messages", Body: `{
		"producer": "orders-svc", "check_url": "` + e.stack.Checks.URL + `", "topic": "orders",
		"payload": {"amount":42,"order":"idem-1"}, "id": "idem-1",
		"headers": {"trace-id": "t-idem-1"}, "key": "customer-idem-1"}`})
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.Equal(t, prepareResponse{ID: "idem-1", Status: wire.StatusWaitingConfirm}, decode[prepareResponse](t, r))

	// A different request with the same id is refused, and the message keeps
	// its first content.
	body["key"] = "another-key"
	requireError(t, e.open.post(t, "/v1/messages", body), http.StatusConflict, "id_conflict")
	requireError(t, e.open.post(t, "/v1/messages/send", e.message("idem-1")), http.StatusConflict, "id_conflict")
	v := e.open.waitStatus(t, "idem-1", wire.StatusWaitingConfirm)
	require.Equal(t, "customer-idem-1", v.Key)

	// After confirming, a retry of the prepare answers with the current status.
	e.open.post(t, "/v1/messages/idem-1/confirm", nil)
	e.stack.Kafka.Wait(t, "idem-1", 1)
	r = e.open.post(t, "/v1/messages", e.message("idem-1"))
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.Contains(t, []wire.Status{wire.StatusSending, wire.StatusDelivered}, decode[prepareResponse](t, r).Status)
}

func testPrepareGeneratesID(t *testing.T, e *env) {
	body := e.message("")
	delete(body, "id")
	r := e.open.post(t, "/v1/messages", body)
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)
	id := decode[prepareResponse](t, r).ID
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), id)
	// Without an id every request is a new message.
	r = e.open.post(t, "/v1/messages", body)
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)
	require.NotEqual(t, id, decode[prepareResponse](t, r).ID)
	e.open.waitStatus(t, id, wire.StatusWaitingConfirm)
}

func testConfirmDelivers(t *testing.T, e *env) {
	const id = "deliver-1"
	r := e.open.post(t, "/v1/messages", e.message(id))
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)

	r = e.open.post(t, "/v1/messages/"+id+"/confirm", map[string]string{"reason": "order committed"})
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.Equal(t, signalResponse{ID: id, Status: wire.StatusSending, PreviousStatus: wire.StatusWaitingConfirm, Outcome: "applied"}, decode[signalResponse](t, r),
		"the answer names the status the confirm moved the message to")

	rec := e.stack.Kafka.Wait(t, id, 1)[0]
	require.Equal(t, topic, rec.Topic)
	require.Equal(t, "customer-"+id, rec.Key)
	require.JSONEq(t, `{"order":"`+id+`","amount":42}`, rec.Value)
	require.Equal(t, "t-"+id, rec.Headers["trace-id"])
	require.Equal(t, "1", rec.Headers[wire.HeaderAttempt])

	e.open.waitStatus(t, id, wire.StatusDelivered)
	r = e.open.post(t, "/v1/messages/"+id+"/complete", map[string]string{"consumer": "accounting"})
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.Equal(t, signalResponse{ID: id, Status: wire.StatusCompleted, PreviousStatus: wire.StatusDelivered, Outcome: "applied"}, decode[signalResponse](t, r))

	v := e.open.waitStatus(t, id, wire.StatusCompleted)
	require.Equal(t, 1, v.SendCount)
	require.NotNil(t, v.CompletedAt)
	row, err := e.stack.Store.Get(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, wire.StatusCompleted, row.Status)

	// Late and duplicate requests on a completed message are harmless repeats.
	r = e.open.post(t, "/v1/messages/"+id+"/complete", nil)
	require.Equal(t, signalResponse{ID: id, Status: wire.StatusCompleted, PreviousStatus: wire.StatusCompleted, Outcome: "repeated",
		Reason: why("message is already completed")}, decode[signalResponse](t, r))
	r = e.open.post(t, "/v1/messages/"+id+"/confirm", nil)
	require.Equal(t, signalResponse{ID: id, Status: wire.StatusCompleted, PreviousStatus: wire.StatusCompleted, Outcome: "repeated",
		Reason: why("message is already confirmed")}, decode[signalResponse](t, r))
	requireError(t, e.open.post(t, "/v1/messages/"+id+"/cancel", nil), http.StatusConflict, "conflict")
	require.Len(t, e.stack.Kafka.Records(id), 1)
}

func testCancel(t *testing.T, e *env) {
	const id = "cancel-1"
	require.Equal(t, http.StatusCreated, e.open.post(t, "/v1/messages", e.message(id)).Status)
	r := e.open.post(t, "/v1/messages/"+id+"/cancel", map[string]string{"reason": "rolled back"})
	require.Equal(t, signalResponse{ID: id, Status: wire.StatusCancelled, PreviousStatus: wire.StatusWaitingConfirm, Outcome: "applied"}, decode[signalResponse](t, r))
	e.open.waitStatus(t, id, wire.StatusCancelled)

	r = e.open.post(t, "/v1/messages/"+id+"/cancel", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, signalResponse{ID: id, Status: wire.StatusCancelled, PreviousStatus: wire.StatusCancelled, Outcome: "repeated",
		Reason: why("message is already cancelled")}, decode[signalResponse](t, r))
	msg := requireError(t, e.open.post(t, "/v1/messages/"+id+"/confirm", nil), http.StatusConflict, "conflict")
	require.Contains(t, msg, "cancelled")
	requireError(t, e.open.post(t, "/v1/messages/"+id+"/complete", nil), http.StatusConflict, "conflict")
	require.Empty(t, e.stack.Kafka.Records(id), "a cancelled message is never sent")
}

func testRepeatConfirm(t *testing.T, e *env) {
	const id = "repeat-1"
	require.Equal(t, http.StatusCreated, e.open.post(t, "/v1/messages", e.message(id)).Status)
	r := e.open.post(t, "/v1/messages/"+id+"/confirm", nil)
	require.Equal(t, "applied", decode[signalResponse](t, r).Outcome)
	e.stack.Kafka.Wait(t, id, 1)
	e.open.waitStatus(t, id, wire.StatusDelivered)
	r = e.open.post(t, "/v1/messages/"+id+"/confirm", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, signalResponse{ID: id, Status: wire.StatusDelivered, PreviousStatus: wire.StatusDelivered, Outcome: "repeated",
		Reason: why("message is already confirmed")}, decode[signalResponse](t, r))
	require.Len(t, e.stack.Kafka.Records(id), 1, "a repeated confirm sends nothing again")
}

func testDirectSend(t *testing.T, e *env) {
	const id = "direct-1"
	body := map[string]any{"id": id, "topic": topic, "payload_base64": base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff})}
	r := e.open.post(t, "/v1/messages/send", body)
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)
	require.Equal(t, prepareResponse{ID: id, Status: wire.StatusSending}, decode[prepareResponse](t, r))
	rec := e.stack.Kafka.Wait(t, id, 1)[0]
	require.Equal(t, string([]byte{0, 1, 2, 0xff}), rec.Value)

	v := e.open.waitStatus(t, id, wire.StatusDelivered)
	require.Nil(t, v.Payload, "binary payloads are not shown as JSON")
	require.NotNil(t, v.PayloadBase64)
	require.Equal(t, base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff}), *v.PayloadBase64)

	require.Equal(t, "applied", decode[signalResponse](t, e.open.post(t, "/v1/messages/"+id+"/complete", nil)).Outcome)
	e.open.waitStatus(t, id, wire.StatusCompleted)
	// A retry of the send after completion neither conflicts nor sends again.
	r = e.open.post(t, "/v1/messages/send", body)
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.Equal(t, wire.StatusCompleted, decode[prepareResponse](t, r).Status)
	require.Len(t, e.stack.Kafka.Records(id), 1)
}

func testScheduledSend(t *testing.T, e *env) {
	const id = "scheduled-1"
	deliverAt := time.Now().Add(time.Hour).UTC()
	body := e.message(id)
	body["deliver_at"] = deliverAt.Format(time.RFC3339)
	r := e.open.post(t, "/v1/messages/send", body)
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)
	require.Equal(t, wire.StatusScheduled, decode[prepareResponse](t, r).Status)
	e.open.waitStatus(t, id, wire.StatusScheduled)
	// A complete before deliver_at is held for the publish, which it does
	// not bring forward.
	r = e.open.post(t, "/v1/messages/"+id+"/complete", nil)
	require.Equal(t, http.StatusAccepted, r.Status, "body: %s", r.Body)
	require.Equal(t, signalResponse{ID: id, Status: wire.StatusScheduled, PreviousStatus: wire.StatusScheduled, Outcome: "accepted",
		Reason: why("message is SCHEDULED, not sent yet: the completion is held until it is published")}, decode[signalResponse](t, r))
	e.open.waitStatus(t, id, wire.StatusScheduled)
	require.Empty(t, e.stack.Kafka.Records(id))
}

func testFanOut(t *testing.T, e *env) {
	const id = "fanout-1"
	body := e.message(id)
	body["consumers"] = []string{"accounting", "points"}
	require.Equal(t, http.StatusCreated, e.open.post(t, "/v1/messages/send", body).Status)
	e.stack.Kafka.Wait(t, id, 1)
	e.open.waitStatus(t, id, wire.StatusDelivered)

	msg := requireError(t, e.open.post(t, "/v1/messages/"+id+"/complete", nil), http.StatusConflict, "conflict")
	require.Contains(t, msg, "consumer name required")
	msg = requireError(t, e.open.post(t, "/v1/messages/"+id+"/complete", map[string]string{"consumer": "billing"}), http.StatusConflict, "conflict")
	require.Contains(t, msg, `"billing" is not one of`)

	r := e.open.post(t, "/v1/messages/"+id+"/complete", map[string]string{"consumer": "accounting"})
	require.Equal(t, "applied", decode[signalResponse](t, r).Outcome)
	require.Eventually(t, func() bool {
		r, err := e.open.try(request{Method: http.MethodPost, Path: "/v1/messages/" + id + "/complete", JSON: map[string]string{"consumer": "accounting"}})
		var res signalResponse
		return err == nil && json.Unmarshal(r.Body, &res) == nil && res.Outcome == "repeated"
	}, 10*time.Second, 20*time.Millisecond, "a second complete by the same consumer is a repeat")
	r = e.open.post(t, "/v1/messages/"+id+"/complete", map[string]string{"consumer": "points"})
	require.Equal(t, "applied", decode[signalResponse](t, r).Outcome)
	v := e.open.waitStatus(t, id, wire.StatusCompleted)
	require.Equal(t, []string{"accounting", "points"}, v.Consumers)
}

func testUnknownID(t *testing.T, e *env) {
	for _, path := range []string{"confirm", "cancel", "complete", "redrive"} {
		requireError(t, e.open.post(t, "/v1/messages/nobody-knows/"+path, nil), http.StatusNotFound, "not_found")
	}
	e.open.requireAbsent(t, "nobody-knows")
	// Ids that cannot exist are not found either, not bad requests.
	requireError(t, e.open.get(t, "/v1/messages/a%20b"), http.StatusNotFound, "not_found")
	requireError(t, e.open.post(t, "/v1/messages/..%2F..%2Fetc/confirm", nil), http.StatusNotFound, "not_found")
	// An escaped id is the id.
	require.Equal(t, http.StatusCreated, e.open.post(t, "/v1/messages", e.message("colon:id")).Status)
	r := e.open.post(t, "/v1/messages/colon%3Aid/cancel", nil)
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
}

func testSignalConflicts(t *testing.T, e *env) {
	const id = "conflict-1"
	require.Equal(t, http.StatusCreated, e.open.post(t, "/v1/messages", e.message(id)).Status)
	msg := requireError(t, e.open.post(t, "/v1/messages/"+id+"/redrive", nil), http.StatusConflict, "conflict")
	require.Contains(t, msg, "only a DEAD message can be re-driven")
	// A complete before the message is sent is held, not refused: a lost
	// workflow task can have published it already.
	r := e.open.post(t, "/v1/messages/"+id+"/complete", nil)
	require.Equal(t, http.StatusAccepted, r.Status, "body: %s", r.Body)
	require.Equal(t, signalResponse{ID: id, Status: wire.StatusWaitingConfirm, PreviousStatus: wire.StatusWaitingConfirm, Outcome: "accepted",
		Reason: why("message is WAITING_CONFIRM, not sent yet: the completion is held until it is published")}, decode[signalResponse](t, r))
	// Signal bodies are checked like every other body.
	requireError(t, e.open.post(t, "/v1/messages/"+id+"/confirm", map[string]string{"by": "me"}), http.StatusBadRequest, "invalid_json")
	requireError(t, e.open.post(t, "/v1/messages/"+id+"/complete", map[string]string{"consumer": "no spaces"}), http.StatusBadRequest, "invalid_request")
	requireError(t, e.open.do(t, request{Method: http.MethodPost, Path: "/v1/messages/" + id + "/cancel", Body: `{"reason":"x"}`, ContentType: "text/plain"}),
		http.StatusUnsupportedMediaType, "unsupported_media_type")
	e.open.waitStatus(t, id, wire.StatusWaitingConfirm)
}

// deadPolicy sends once and declares the message DEAD 200 ms later.
var deadPolicy = map[string]any{"resend_intervals": []string{"200ms"}}

func testRedrive(t *testing.T, e *env) {
	const id = "redrive-1"
	body := e.message(id)
	body["policy"] = deadPolicy
	require.Equal(t, http.StatusCreated, e.open.post(t, "/v1/messages/send", body).Status)
	v := e.open.waitStatus(t, id, wire.StatusDead)
	require.Contains(t, v.LastError, "not completed after 1 sends")

	r := e.open.post(t, "/v1/messages/"+id+"/redrive", map[string]string{"reason": "consumer fixed"})
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.Equal(t, signalResponse{ID: id, Status: wire.StatusSending, PreviousStatus: wire.StatusDead, Outcome: "applied"}, decode[signalResponse](t, r))
	recs := e.stack.Kafka.Wait(t, id, 2)
	require.Equal(t, "1", recs[1].Headers[wire.HeaderAttempt], "a re-drive starts counting sends again")
	e.open.waitStatus(t, id, wire.StatusDelivered)
	// A retried re-drive finds the message on its way: a repeat, not a
	// conflict, and nothing is sent again.
	r = e.open.post(t, "/v1/messages/"+id+"/redrive", map[string]string{"reason": "consumer fixed"})
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.Equal(t, signalResponse{ID: id, Status: wire.StatusDelivered, PreviousStatus: wire.StatusDelivered, Outcome: "repeated",
		Reason: why("message is already being delivered")}, decode[signalResponse](t, r))
	require.Len(t, e.stack.Kafka.Records(id), 2)
	require.Equal(t, "applied", decode[signalResponse](t, e.open.post(t, "/v1/messages/"+id+"/complete", nil)).Outcome)
	e.open.waitStatus(t, id, wire.StatusCompleted)
	// Any other status is a conflict.
	msg := requireError(t, e.open.post(t, "/v1/messages/"+id+"/redrive", nil), http.StatusConflict, "conflict")
	require.Equal(t, "redrive: only a DEAD message can be re-driven, message is COMPLETED", msg)

	// An operator's re-drive through the API is audited like the console's.
	audited := e.audited(t, func(a models.AuditEntry) bool {
		return len(a.Outcomes) == 1 && a.Outcomes[0].ID == id && a.Outcomes[0].Disposition == wire.Applied
	})
	require.Equal(t, models.AuditEntry{ID: audited.ID, At: audited.At, By: "anonymous", Action: models.Redrive, Reason: "consumer fixed",
		Outcomes: []models.AuditOutcome{{ID: id, Disposition: wire.Applied, Status: wire.StatusDead}}}, audited,
		"the audit log keeps the status the re-drive was decided on")
}

// audited returns the one audit entry that matches.
func (e *env) audited(t *testing.T, match func(models.AuditEntry) bool) models.AuditEntry {
	t.Helper()
	entries, err := e.stack.Store.AuditLog(t.Context(), 1000, 0)
	require.NoError(t, err)
	var found []models.AuditEntry
	for _, a := range entries {
		if match(a) {
			found = append(found, a)
		}
	}
	require.Len(t, found, 1, "audit entries: %+v", entries)
	return found[0]
}

func testBulkRedrive(t *testing.T, e *env) {
	ids := []string{"bulk-1", "bulk-2", "bulk-3"}
	for _, id := range ids {
		body := e.message(id)
		body["topic"] = bulkTopic
		// DEAD 3 s after each send: re-driven messages stay out of DEAD
		// while the test re-drives the rest.
		body["policy"] = map[string]any{"resend_intervals": []string{"3s"}}
		require.Equal(t, http.StatusCreated, e.open.post(t, "/v1/messages/send", body).Status)
	}
	// One message of the topic is not DEAD: it is left alone.
	live := e.message("bulk-live")
	live["topic"] = bulkTopic
	require.Equal(t, http.StatusCreated, e.open.post(t, "/v1/messages", live).Status)
	for _, id := range ids {
		e.open.waitStatus(t, id, wire.StatusDead)
	}

	requireError(t, e.open.post(t, "/v1/messages/redrive", map[string]any{}), http.StatusBadRequest, "invalid_request")
	requireError(t, e.open.post(t, "/v1/messages/redrive", map[string]any{"topic": bulkTopic, "limit": 0}), http.StatusBadRequest, "invalid_request")

	type bulkResponse struct {
		Redriven int              `json:"redriven"`
		Failed   []map[string]any `json:"failed"`
	}
	r := e.open.post(t, "/v1/messages/redrive", map[string]any{"topic": bulkTopic, "limit": 2, "reason": "bulk"})
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.Equal(t, bulkResponse{Redriven: 2, Failed: []map[string]any{}}, decode[bulkResponse](t, r))
	bulk := e.audited(t, func(a models.AuditEntry) bool { return a.Topic == bulkTopic && a.Reason == "bulk" })
	require.Len(t, bulk.Outcomes, 2)
	for _, o := range bulk.Outcomes {
		require.Equal(t, wire.Applied, o.Disposition)
		require.Contains(t, ids, o.ID)
	}
	r = e.open.post(t, "/v1/messages/redrive", map[string]any{"topic": bulkTopic})
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.Equal(t, 1, decode[bulkResponse](t, r).Redriven, "the rest of the DEAD messages")
	for _, id := range ids {
		e.stack.Kafka.Wait(t, id, 2)
	}
	require.Empty(t, e.stack.Kafka.Records("bulk-live"))
	e.open.waitStatus(t, "bulk-live", wire.StatusWaitingConfirm)
}

func testEndedWorkflows(t *testing.T, e *env) {
	ctx := t.Context()
	// Terminated through Temporal while DELIVERED: its last status would
	// apply a complete, but nothing runs to apply it.
	const terminated = "ended-terminated"
	require.Equal(t, http.StatusCreated, e.open.post(t, "/v1/messages", e.message(terminated)).Status)
	require.Equal(t, http.StatusOK, e.open.post(t, "/v1/messages/"+terminated+"/confirm", nil).Status)
	e.open.waitStatus(t, terminated, wire.StatusDelivered)
	require.NoError(t, e.stack.Client.TerminateWorkflow(ctx, "msg-"+terminated, "", "test"))
	msg := requireError(t, e.open.post(t, "/v1/messages/"+terminated+"/complete", nil), http.StatusConflict, "conflict")
	require.Contains(t, msg, "message is DELIVERED and its workflow has ended")

	// Past Temporal's retention: the workflow is gone and its final mirror
	// row decides.
	const deleted = "ended-deleted"
	now := time.Now()
	_, err := e.stack.Store.Insert(ctx, &models.Message{
		ID: deleted, Topic: topic, Payload: []byte(`{}`), CheckURL: e.stack.Checks.URL,
		Status: wire.StatusCancelled, CreatedAt: now, UpdatedAt: now,
	})
	require.NoError(t, err)
	_, err = e.stack.Client.DescribeWorkflowExecution(ctx, "msg-"+deleted, "")
	var nf *serviceerror.NotFound
	require.ErrorAs(t, err, &nf, "Temporal does not know the message")
	r := e.open.post(t, "/v1/messages/"+deleted+"/cancel", nil)
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.Equal(t, signalResponse{ID: deleted, Status: wire.StatusCancelled, PreviousStatus: wire.StatusCancelled, Outcome: "repeated",
		Reason: why("message is already cancelled")}, decode[signalResponse](t, r))
	msg = requireError(t, e.open.post(t, "/v1/messages/"+deleted+"/confirm", nil), http.StatusConflict, "conflict")
	require.Contains(t, msg, "cancelled")
	requireError(t, e.open.post(t, "/v1/messages/never-was/confirm", nil), http.StatusNotFound, "not_found")
}
