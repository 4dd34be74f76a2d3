package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/internal/teststack"
)

// TestReplayCommand runs `courier replay` against a server holding a message.
func TestReplayCommand(t *testing.T) {
	st := teststack.New(t, teststack.Config{})
	st.Start(t, st.Input("cmd-replay-1"))
	var out string
	require.Eventually(t, func() bool {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"replay", "--temporal-address", st.HostPort, "--temporal-namespace", st.Namespace, "--log-level", "error"}, &stdout, &stderr)
		out = stdout.String() + stderr.String()
		return code == 0 && strings.Contains(out, "replayed 1 message histories (1 open, 0 closed)")
	}, 30*time.Second, 200*time.Millisecond, "output: %s", out)
	require.Contains(t, out, fmt.Sprintf("v%d", contract.CurrentVersion))
	require.Contains(t, out, "every history replays")

	_, stderr := runRefused(t, "replay", "--concurrency", "0")
	require.Contains(t, stderr, "concurrency 1 or more")
}
