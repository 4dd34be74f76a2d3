package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/internal/teststack"
)

// TestKcatReadsPublishedMessages checks Courier's records with a Kafka client
// whose code Courier did not write: librdkafka's kcat must see the key, the
// payload byte for byte, the producer's headers and Courier's own.
func TestKcatReadsPublishedMessages(t *testing.T) {
	t.Parallel()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not installed (apt-get install kcat)")
	}
	s := teststack.New(t, teststack.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	want := map[string]contract.Message{
		"kcat-1": {ID: "kcat-1", Topic: teststack.DefaultTopic, Key: "customer-7",
			Payload: []byte(`{"order": 42, "event": "paid"}`), Headers: map[string]string{"trace-id": "abc"}},
		"kcat-2": {ID: "kcat-2", Topic: teststack.DefaultTopic, Key: "clé-ünïcode",
			Payload: []byte("plain text, not JSON: \u00e9\t\""), Headers: map[string]string{"a": "1", "b": ""}},
	}
	for id, msg := range want {
		_, err := s.Client.ExecuteWorkflow(ctx,
			client.StartWorkflowOptions{ID: contract.WorkflowID(id), TaskQueue: contract.TaskQueue},
			contract.WorkflowType,
			contract.Input{Message: msg, Policy: wire.DefaultTiming(), Confirmed: true, Version: contract.CurrentVersion})
		require.NoError(t, err)
		s.Kafka.Wait(t, id, 1)
	}

	out, err := exec.CommandContext(ctx, kcat, "-C", "-b", s.Brokers[0], "-t", teststack.DefaultTopic,
		"-o", "beginning", "-e", "-q", "-J").Output()
	require.NoError(t, err, "kcat: %s", out)
	got := map[string]kcatRecord{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var rec kcatRecord
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec), "kcat line %q", sc.Text())
		headers := headerMap(t, rec.Headers)
		got[headers[wire.HeaderMessageID]] = rec
	}
	require.NoError(t, sc.Err())
	for id, msg := range want {
		rec, ok := got[id]
		require.True(t, ok, "kcat did not see %s; it printed:\n%s", id, out)
		require.Equal(t, msg.Topic, rec.Topic)
		require.NotNil(t, rec.Key)
		require.Equal(t, msg.Key, *rec.Key)
		require.NotNil(t, rec.Payload)
		require.Equal(t, string(msg.Payload), *rec.Payload)
		headers := headerMap(t, rec.Headers)
		for k, v := range msg.Headers {
			require.Equal(t, v, headers[k], "producer header %s", k)
		}
		require.Equal(t, id, headers[wire.HeaderMessageID])
		require.Equal(t, "1", headers[wire.HeaderAttempt])
		require.Len(t, headers, len(msg.Headers)+2, "no header but the producer's and Courier's two")
	}
}

// headerMap turns kcat's [name, value, name, value, ...] into a map.
func headerMap(t *testing.T, flat []string) map[string]string {
	t.Helper()
	require.Zero(t, len(flat)%2, "kcat headers %q", flat)
	m := map[string]string{}
	for i := 0; i < len(flat); i += 2 {
		m[flat[i]] = flat[i+1]
	}
	return m
}
