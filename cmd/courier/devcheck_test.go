package main

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// devArgs are the flags of a `courier dev` on ports, with its data in dataDir.
func devArgs(dataDir string, ports devPorts) []string {
	return []string{"dev",
		"--data-dir", dataDir,
		"--http-addr", fmt.Sprintf("127.0.0.1:%d", ports.http),
		"--temporal-port", strconv.Itoa(ports.temporal),
		"--ui-port", strconv.Itoa(ports.ui),
		"--kafka-port", strconv.Itoa(ports.kafka),
	}
}

// runDevToExit runs `courier dev` expecting it to refuse to start: it returns
// the exit code and the combined output.
func runDevToExit(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	done := make(chan struct{})
	timer := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	close(done)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	}
	require.NoError(t, err, "courier dev ran and exited 0:\n%s", out)
	return 0, string(out)
}

// requireCleanRefusal asserts that out is the one line want, as `courier dev`
// prints it when it refuses to start: no stack trace, no banner, no log of a
// part that started.
func requireCleanRefusal(t *testing.T, code int, out, want string) {
	t.Helper()
	require.Equal(t, 1, code, "exit code; output:\n%s", out)
	require.Equal(t, want, strings.TrimSpace(out), "the whole output is one line")
	require.NotContains(t, out, "panic")
	require.NotContains(t, out, "goroutine")
	require.NotContains(t, out, "Courier dev stack is running")
}

// TestDevPortTaken holds each listener's port of `courier dev` in turn: dev
// refuses to start, before starting anything, with one line that names the
// port and the flag and variable that change it.
func TestDevPortTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the courier binary")
	}
	t.Parallel()
	bin := buildCourier(t)
	for _, tc := range []struct {
		name string
		// port picks the port to take from the stack's ports.
		port  func(devPorts, int) int
		extra []string
		what  string
	}{
		{"gateway", func(p devPorts, _ int) int { return p.http }, nil, "gateway, --http-addr / COURIER_HTTP_ADDR"},
		{"temporal", func(p devPorts, _ int) int { return p.temporal }, nil, "Temporal frontend, --temporal-port / COURIER_TEMPORAL_PORT"},
		{"ui", func(p devPorts, _ int) int { return p.ui }, nil, "Temporal Web UI, --ui-port / COURIER_UI_PORT"},
		{"kafka", func(p devPorts, _ int) int { return p.kafka }, nil, "Kafka broker, --kafka-port / COURIER_KAFKA_PORT"},
		{"pprof", func(_ devPorts, extra int) int { return extra }, []string{"--pprof-addr"}, "profiles, --pprof-addr / COURIER_PPROF_ADDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ports := devPorts{http: freePort(t), temporal: freePort(t), ui: freePort(t), kafka: freePort(t)}
			extraPort := freePort(t)
			taken := tc.port(ports, extraPort)
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(taken)))
			require.NoError(t, err)
			defer ln.Close()
			args := devArgs(t.TempDir(), ports)
			for _, flag := range tc.extra {
				args = append(args, flag, fmt.Sprintf("127.0.0.1:%d", extraPort))
			}
			code, out := runDevToExit(t, bin, args...)
			requireCleanRefusal(t, code, out, fmt.Sprintf("courier dev: port %d (%s) is in use", taken, tc.what))
		})
	}
}

// TestDevListeners checks the ports dev checks: only those of the parts it
// runs, and none given twice.
func TestDevListeners(t *testing.T) {
	t.Parallel()
	parse := func(args ...string) *Config {
		var cfg Config
		require.NoError(t, newFlagSet(&cfg, "dev").Parse(args))
		return &cfg
	}
	ports := func(cfg *Config) []int {
		ls, err := devListeners(cfg)
		require.NoError(t, err)
		var ps []int
		for _, l := range ls {
			ps = append(ps, l.port)
		}
		return ps
	}
	require.Equal(t, []int{8080, 7233, 8233, 9092}, ports(parse()))
	require.Equal(t, []int{8080, 6060}, ports(parse("--temporal", "10.0.0.1:7233", "--no-ui", "--kafka", "10.0.0.1:9092", "--pprof-addr", "127.0.0.1:6060")))
	require.EqualError(t, checkDevPorts(parse("--ui-port", "9092")),
		"port 9092 is given to both the Temporal Web UI (--ui-port) and the Kafka broker (--kafka-port); change one")
}

// TestDevDataDirLocked starts `courier dev` and then a second one on the same
// data directory, other ports: the second refuses with one line naming the
// first's PID. After the first is killed with kill -9, its lock file left
// behind, a new dev starts on the directory.
func TestDevDataDirLocked(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the courier binary")
	}
	t.Parallel()
	bin := buildCourier(t)
	dataDir := t.TempDir()
	ports := func() devPorts {
		return devPorts{http: freePort(t), temporal: freePort(t), ui: freePort(t), kafka: freePort(t)}
	}
	first := startDev(t, bin, dataDir, ports())

	code, out := runDevToExit(t, bin, devArgs(dataDir, ports())...)
	requireCleanRefusal(t, code, out, fmt.Sprintf(
		"courier dev: data directory %s is in use by process %d (another courier dev); stop it or use --data-dir",
		dataDir, first.cmd.Process.Pid))

	require.NoError(t, first.cmd.Process.Kill())
	<-first.done
	startDev(t, bin, dataDir, ports()).stop(t)
}
