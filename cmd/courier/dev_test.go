package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/internal/freeport"
	"github.com/courier-mq/courier/internal/syncbuf"
)

// devProcess is a `courier dev` started from the built binary, as a user would.
type devProcess struct {
	cmd    *exec.Cmd
	output *syncbuf.Buffer
	done   chan error
}

type devPorts struct {
	http, temporal, ui, kafka int
}

// buildCourier builds the binary once per test run.
func buildCourier(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "courier")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

func startDev(t *testing.T, bin, dataDir string, ports devPorts) *devProcess {
	t.Helper()
	cmd := exec.Command(bin, "dev",
		"--data-dir", dataDir,
		"--http-addr", fmt.Sprintf("127.0.0.1:%d", ports.http),
		"--temporal-port", strconv.Itoa(ports.temporal),
		"--ui-port", strconv.Itoa(ports.ui),
		"--kafka-port", strconv.Itoa(ports.kafka),
		// Short resends so that a message left in flight goes out again soon.
		"--resend-intervals", "3s,3s,3s,3s,3s,3s,3s,3s,3s,3s",
	)
	p := &devProcess{cmd: cmd, output: &syncbuf.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	require.NoError(t, cmd.Start())
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("courier dev output:\n%s", p.output.String())
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", ports.http)
	require.Eventually(t, func() bool {
		select {
		case err := <-p.done:
			p.done <- err
			return true // exited: fail below with its output
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 90*time.Second, 200*time.Millisecond)
	require.Nil(t, cmd.ProcessState, "courier dev exited early:\n%s", p.output.String())
	// The banner tells the user the stack is up: it comes after the
	// gateway, the last part to start, listens.
	require.Eventually(t, func() bool {
		return strings.Contains(p.output.String(), "Press Ctrl-C to stop")
	}, 10*time.Second, 50*time.Millisecond, "no banner:\n%s", p.output.String())
	out := p.output.String()
	listening := strings.Index(out, `msg="gateway listening"`)
	banner := strings.Index(out, "Courier dev stack is running")
	require.True(t, listening >= 0 && banner > listening, "banner before the gateway listens:\n%s", out)
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *devProcess) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.done:
		require.NoError(t, err, "courier dev did not exit cleanly:\n%s", p.output.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("courier dev did not stop within 60 s of SIGTERM:\n%s", p.output.String())
	}
}

type api struct {
	base string
}

func (a api) do(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, a.base+path, r)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if len(data) > 0 {
		require.NoError(t, json.Unmarshal(data, &out), "body: %s", data)
	}
	return resp.StatusCode, out
}

func (a api) status(t *testing.T, id string) string {
	t.Helper()
	code, body := a.do(t, http.MethodGet, "/v1/messages/"+id, nil)
	if code != http.StatusOK {
		return fmt.Sprintf("HTTP %d", code)
	}
	s, _ := body["status"].(string)
	return s
}

func (a api) waitStatus(t *testing.T, id, want string) {
	t.Helper()
	require.Eventually(t, func() bool { return a.status(t, id) == want }, 60*time.Second, 100*time.Millisecond,
		"message %s never reached %s (last: %s)", id, want, a.status(t, id))
}

// TestDevStackSurvivesRestart runs `courier dev` from the built binary, drives
// messages from prepare to complete over HTTP with a Kafka consumer in
// between, stops it with SIGTERM while messages are in flight, starts it
// again on the same data directory and sees them finish.
func TestDevStackSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the courier binary")
	}
	bin := buildCourier(t)
	dataDir := t.TempDir()
	ports := devPorts{http: freePort(t), temporal: freePort(t), ui: freePort(t), kafka: freePort(t)}
	check := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"UNKNOWN"}`))
	}))
	defer check.Close()
	a := api{base: fmt.Sprintf("http://127.0.0.1:%d", ports.http)}
	prepare := func(id string) {
		code, body := a.do(t, http.MethodPost, "/v1/messages", map[string]any{
			"id": id, "topic": "orders", "key": "customer-" + id,
			"payload":   map[string]any{"order": id},
			"check_url": check.URL + "/check",
		})
		require.Equal(t, http.StatusCreated, code, "prepare %s: %v", id, body)
		require.Equal(t, "WAITING_CONFIRM", body["status"])
	}
	signal := func(id, name string, body any) {
		code, resp := a.do(t, http.MethodPost, "/v1/messages/"+id+"/"+name, body)
		require.Equal(t, http.StatusOK, code, "%s %s: %v", name, id, resp)
	}

	dev := startDev(t, bin, dataDir, ports)
	require.Contains(t, dev.output.String(), fmt.Sprintf("http://127.0.0.1:%d", ports.ui), "the banner prints the Web UI URL")
	kafka := fmt.Sprintf("127.0.0.1:%d", ports.kafka)

	// One message all the way through.
	prepare("e2e-1")
	signal("e2e-1", "confirm", nil)
	rec := consumeOne(t, kafka, "e2e-1")
	require.Equal(t, "customer-e2e-1", string(rec.Key))
	require.JSONEq(t, `{"order":"e2e-1"}`, string(rec.Value))
	signal("e2e-1", "complete", map[string]any{"consumer": "accounting"})
	a.waitStatus(t, "e2e-1", "COMPLETED")

	// Two in flight: one delivered and waiting for completion, one prepared
	// and waiting for its producer's decision.
	prepare("e2e-2")
	signal("e2e-2", "confirm", nil)
	consumeOne(t, kafka, "e2e-2")
	a.waitStatus(t, "e2e-2", "DELIVERED")
	prepare("e2e-3")
	dev.stop(t)

	dev = startDev(t, bin, dataDir, ports)
	// Still in flight: DELIVERED, or being sent again (its 3 s resend fell
	// due while the stack was down), or DEAD if the restart outlasted its ten
	// resends on a loaded machine; a complete is applied in each.
	require.Contains(t, []string{"DELIVERED", "SENDING", "DEAD"}, a.status(t, "e2e-2"))
	require.Equal(t, "WAITING_CONFIRM", a.status(t, "e2e-3"))
	signal("e2e-3", "confirm", nil)
	consumeOne(t, kafka, "e2e-3")
	signal("e2e-2", "complete", nil)
	signal("e2e-3", "complete", nil)
	a.waitStatus(t, "e2e-2", "COMPLETED")
	a.waitStatus(t, "e2e-3", "COMPLETED")
	// The first message survived the restart in Kafka and in the mirror.
	consumeOne(t, kafka, "e2e-1")
	require.Equal(t, "COMPLETED", a.status(t, "e2e-1"))
	dev.stop(t)
}

// consumeOne reads the "orders" topic from the start until it finds a record
// of message id.
func consumeOne(t *testing.T, broker, id string) *sarama.ConsumerMessage {
	t.Helper()
	cfg := sarama.NewConfig()
	consumer, err := sarama.NewConsumer([]string{broker}, cfg)
	require.NoError(t, err)
	defer consumer.Close()
	var partitions []int32
	require.Eventually(t, func() bool {
		partitions, err = consumer.Partitions("orders")
		return err == nil && len(partitions) > 0
	}, 30*time.Second, 100*time.Millisecond, "topic orders never appeared")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	found := make(chan *sarama.ConsumerMessage, len(partitions))
	var wg sync.WaitGroup
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition("orders", p, sarama.OffsetOldest)
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close()
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-pc.Messages():
					for _, h := range m.Headers {
						if string(h.Key) == wire.HeaderMessageID && string(h.Value) == id {
							found <- m
							return
						}
					}
				}
			}
		}()
	}
	defer wg.Wait()
	defer cancel()
	select {
	case m := <-found:
		return m
	case <-ctx.Done():
		t.Fatalf("message %s not found in Kafka", id)
		return nil
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Port("127.0.0.1")
	require.NoError(t, err)
	return port
}
