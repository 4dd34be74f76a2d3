package devstack

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUI(t *testing.T) {
	t.Parallel()
	cfg := setupUI(t)

	ui, err := StartUI(t.Context(), cfg)
	require.NoError(t, err)

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

// setupUI points the UI at a frontend address nothing listens on: the UI
// serves its pages without one, and the Temporal test covers the frontend.
func setupUI(t *testing.T) UIConfig {
	t.Helper()
	port, err := freePort(loopback)
	require.NoError(t, err)
	frontend, err := freePort(loopback)
	require.NoError(t, err)
	return UIConfig{Port: port, TemporalHostPort: net.JoinHostPort(loopback, strconv.Itoa(frontend))}
}
