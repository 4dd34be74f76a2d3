package devstack

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/internal/freeport"
)

func TestUI(t *testing.T) {
	t.Parallel()
	ui := startUI(t)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ui.URL(), nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	require.Contains(t, string(body), "<html")

	require.NoError(t, ui.Stop())
	_, err = http.DefaultClient.Do(req.Clone(t.Context()))
	require.Error(t, err, "the UI still answers after Stop")
}

// startUI starts the UI on a free port. A port found free can be taken by
// another process (a parallel test's outgoing connection) before the UI
// binds it; then it tries another one, a few times.
func startUI(t *testing.T) *UI {
	t.Helper()
	for attempt := 1; ; attempt++ {
		ui, err := StartUI(t.Context(), setupUI(t))
		if err == nil {
			return ui
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 5 {
			require.NoError(t, err)
		}
		t.Logf("port taken before the UI bound it, trying another: %v", err)
	}
}

// setupUI points the UI at a frontend address nothing listens on: the UI
// serves its pages without one, and the Temporal test covers the frontend.
func setupUI(t *testing.T) UIConfig {
	t.Helper()
	port, err := freeport.Port(loopback)
	require.NoError(t, err)
	frontend, err := freeport.Port(loopback)
	require.NoError(t, err)
	return UIConfig{Port: port, TemporalHostPort: net.JoinHostPort(loopback, strconv.Itoa(frontend))}
}
