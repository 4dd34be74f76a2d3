package console_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/console"
	"github.com/courier-mq/courier/gateway"
	"github.com/courier-mq/courier/internal/teststack"
)

// A message sent with a caller's traceparent shows its trace id on its page,
// linked through --trace-url; one sent without shows none.
func TestConsoleLinksAMessageToItsTrace(t *testing.T) {
	t.Parallel()
	st := teststack.New(t, teststack.Config{})
	gw, err := st.Parts.Gateway(gateway.Config{
		Console: console.Config{TraceURL: "http://jaeger.test:16686/trace/{trace_id}"},
	}, "")
	require.NoError(t, err)
	hs := httptest.NewServer(gw.Handler())
	t.Cleanup(hs.Close)

	send := func(id, traceparent string) {
		req, err := http.NewRequest(http.MethodPost, hs.URL+"/v1/messages/send",
			bytes.NewReader([]byte(`{"id":"`+id+`","topic":"`+topic+`","payload":{"n":1}}`)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if traceparent != "" {
			req.Header.Set("traceparent", traceparent)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode)
	}
	page := func(id string) string {
		require.Eventually(t, func() bool {
			s, err := st.Messages.State(t.Context(), id)
			return err == nil && s.Status != wire.StatusSending
		}, time.Minute, 100*time.Millisecond)
		resp, err := http.Get(hs.URL + "/console/messages/" + id)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		return string(body)
	}

	send("traced", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	body := page("traced")
	require.Contains(t, body, `<code id="trace-id">4bf92f3577b34da6a3ce929d0e0e4736</code>`)
	require.Contains(t, body, `href="http://jaeger.test:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736" id="trace-link"`)

	send("untraced", "")
	require.NotContains(t, page("untraced"), `id="trace-id"`)
}

func TestConsoleRefusesATraceURLWithoutTheID(t *testing.T) {
	t.Parallel()
	validate := func(c console.Config) error { c.SetDefaults(); return c.Validate() }
	require.NoError(t, validate(console.Config{TraceURL: "https://tempo.example/explore?trace={trace_id}"}))
	require.ErrorContains(t, validate(console.Config{TraceURL: "http://jaeger:16686/trace/"}), "trace URL")
	require.ErrorContains(t, validate(console.Config{TraceURL: "jaeger/{trace_id}"}), "trace URL")
}
