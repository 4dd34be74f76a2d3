package activities_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/tracing"
)

// messageTrace is a message's stored trace context, as the gateway stores it.
var messageTrace = tracing.Carrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}

// traceID is the trace id of a traceparent header value.
func traceID(t *testing.T, traceparent string) string {
	t.Helper()
	parts := strings.Split(traceparent, "-")
	require.Len(t, parts, 4, "traceparent %q", traceparent)
	return parts[1]
}

func TestCheckBackCarriesTheMessagesTrace(t *testing.T) {
	t.Parallel()
	b := setupCheck(t, 0, 0)
	got := make(chan string, 1)
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("traceparent")
		_, _ = w.Write([]byte(`{"status":"COMMITTED"}`))
	})
	val, err := b.env.ExecuteActivity(b.acts.CheckBack, activities.CheckInput{
		MessageID: "m-1", Topic: "orders", URL: srv.URL, Attempt: 1, Trace: messageTrace,
	})
	require.NoError(t, err)
	var res activities.CheckResult
	require.NoError(t, val.Get(&res))
	require.Equal(t, "COMMITTED", string(res.Answer))
	require.Equal(t, messageTrace.TraceID(), traceID(t, <-got), "the producer's check handler can continue the message's trace")
}

func TestPublishCarriesTheMessagesTrace(t *testing.T) {
	t.Parallel()
	b := setupKafka(t, activities.ProducerConfig{})
	res, err := b.publish(activities.PublishInput{
		MessageID: "m-1", Topic: topic, Key: "k", Payload: []byte("p"), Attempt: 1,
		// A user header of the same name does not take the trace's place.
		Headers: map[string]string{"traceparent": "00-00000000000000000000000000000001-0000000000000001-01", "x-user": "kept"},
		Trace:   messageTrace,
	})
	require.NoError(t, err)
	got := headers(t, b.read(t, res.Partition, 1)[0])
	require.Equal(t, messageTrace.TraceID(), traceID(t, got["traceparent"]), "the consumer can continue the message's trace")
	require.Equal(t, "kept", got["x-user"])
}
