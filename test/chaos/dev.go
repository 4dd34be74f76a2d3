package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/internal/freeport"
	"github.com/courier-mq/courier/store"
)

// devReadyTimeout bounds how long `courier dev` may take to answer /readyz
// after a start: the Temporal server recovers its SQLite files, the broker
// replays its segments.
const devReadyTimeout = 2 * time.Minute

// NewDevStack starts `courier dev` from bin as one OS process, the way a
// developer runs Courier: the embedded Temporal server, Kafka broker and
// SQLite mirror, the worker and the gateway, all on one data directory, with
// policy as the gateway's default policy. Around it run the test's own parts,
// as in NewStack: the producer's check-back endpoint behind a proxy, the
// downstream consumer on the dev broker, a Temporal client and the mirror
// file for checking. s.Worker is the dev process: killing it kills the whole
// stack, and starting it again resumes it on the same data directory and
// ports.
func NewDevStack(t *testing.T, bin string, policy contract.Policy) *Stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	s := &Stack{Driver: store.DriverSQLite}
	s.startProducer(t, policy)

	var ports [3]int
	for i := range ports {
		var err error
		ports[i], err = freeport.Port("127.0.0.1")
		require.NoError(t, err)
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	temporalAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	s.KafkaAddr = fmt.Sprintf("127.0.0.1:%d", ports[2])
	args := append([]string{"dev",
		"--data-dir", dataDir,
		"--no-ui",
		"--http-addr", httpAddr,
		"--temporal-port", strconv.Itoa(ports[1]),
		"--kafka-port", strconv.Itoa(ports[2]),
		"--worker-stop-timeout", "1s",
		"--log-level", "warn",
	}, policyFlags(policy)...)
	s.Worker = NewProcess("courier dev", bin, args, map[string]string{"COURIER_API_KEYS": apiKeysEnv()}, filepath.Join(dir, "dev.log"))
	require.NoError(t, s.Worker.Start())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("courier dev log (tail):\n%s", s.Worker.LogTail(8<<10))
		}
		_ = s.Worker.Stop()
	})
	s.useGateway("http://" + httpAddr)
	require.NoError(t, s.Gateway.Ready(ctx, devReadyTimeout), "courier dev did not become ready")

	var err error
	s.Client, err = client.DialContext(ctx, client.Options{HostPort: temporalAddr, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	require.NoError(t, err)
	t.Cleanup(s.Client.Close)
	s.Store, err = store.Open(ctx, store.Config{Driver: store.DriverSQLite, DSN: filepath.Join(dataDir, "courier.db")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Store.Close() })

	s.startDownstream(ctx, t, s.KafkaAddr)
	// Stop the consumer and its pending completes before anything else.
	t.Cleanup(cancel)
	return s
}

// policyFlags are the `courier dev` flags that make p its default policy.
func policyFlags(p contract.Policy) []string {
	resends := make([]string, len(p.ResendIntervals))
	for i, d := range p.ResendIntervals {
		resends[i] = d.String()
	}
	return []string{
		"--check-delay", p.CheckDelay.String(),
		"--check-backoff", strconv.FormatFloat(p.CheckBackoff, 'g', -1, 64),
		"--check-max-delay", p.CheckMaxDelay.String(),
		"--check-max-attempts", strconv.Itoa(p.CheckMaxAttempts),
		"--check-timeout", p.CheckTimeout.String(),
		"--resend-intervals", strings.Join(resends, ","),
		"--publish-max-interval", p.PublishMaxInterval.String(),
	}
}
