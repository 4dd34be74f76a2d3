// Package devcourier runs a real Courier for the client module's tests:
// `courier dev` built from this repository and started as its own process on
// free ports, with a fast policy (first check-back after a second, resends
// two seconds apart), so the client, the producer and the consumer are tested
// against the real gateway, workflow and broker without linking any of them.
package devcourier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/wire"
)

// Courier is a running `courier dev`.
type Courier struct {
	// URL is the gateway's base URL.
	URL string
	// Kafka is the embedded broker's address.
	Kafka  string
	cmd    *exec.Cmd
	exited <-chan struct{}
	log    *Output
	dir    string
}

// Options shape the dev stack.
type Options struct {
	// Args are extra `courier dev` flags, e.g. "--resend-intervals", "1s".
	Args []string
}

// Start builds courier and starts `courier dev` in a new temporary
// directory. Stop it with Stop.
func Start(opts Options) (*Courier, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "courier-dev-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "courier")
	build := exec.Command("go", "build", "-o", bin, "./cmd/courier")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("build courier: %v\n%s", err, out)
	}
	// A free port is released before courier binds it, and on a busy
	// machine an outgoing connection can take it in between: then courier
	// exits with "address already in use" and another set of ports is tried.
	for attempt := 1; ; attempt++ {
		c, err := start(bin, dir, opts)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			if err != nil {
				_ = os.RemoveAll(dir)
			}
			return c, err
		}
	}
}

// start runs bin as `courier dev` on new free ports with its data under dir.
func start(bin, dir string, opts Options) (*Courier, error) {
	ports := make([]int, 3)
	for i := range ports {
		var err error
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if err := os.RemoveAll(data); err != nil {
		return nil, err
	}
	c := &Courier{
		URL:   fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		Kafka: fmt.Sprintf("127.0.0.1:%d", ports[2]),
		log:   &Output{},
		dir:   dir,
	}
	args := append([]string{"dev",
		"--data-dir", data,
		"--no-ui",
		"--http-addr", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--temporal-port", strconv.Itoa(ports[1]),
		"--kafka-port", strconv.Itoa(ports[2]),
		"--worker-stop-timeout", "1s",
		"--check-delay", "1s",
		"--check-max-delay", "2s",
		"--check-timeout", "2s",
		"--resend-intervals", "2s,2s,2s",
		"--log-level", "warn",
	}, opts.Args...)
	c.cmd = exec.Command(bin, args...)
	c.cmd.SysProcAttr = dieWithParent()
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(exited) }()
	c.exited = exited
	if err := c.waitReady(2 * time.Minute); err != nil {
		c.stop()
		return nil, fmt.Errorf("%w\n%s", err, c.log.String())
	}
	return c, nil
}

func (c *Courier) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := http.Get(c.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.exited:
			return errors.New("courier dev exited before it became ready")
		case <-time.After(200 * time.Millisecond):
		}
	}
	return errors.New("courier dev did not become ready")
}

// Stop stops courier dev and removes its directory.
func (c *Courier) Stop() {
	c.stop()
	_ = os.RemoveAll(c.dir)
}

// stop ends the process: SIGTERM, then SIGKILL after 20 s.
func (c *Courier) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// RunTests is a test binary's TestMain: it starts a Courier into *c, runs
// the tests, stops it and exits with their code.
func RunTests(m *testing.M, c **Courier) {
	var err error
	if *c, err = Start(Options{}); err != nil {
		fmt.Fprintln(os.Stderr, "start courier dev:", err)
		os.Exit(1)
	}
	code := m.Run()
	(*c).Stop()
	os.Exit(code)
}

// Client is a client of c, failing t if it cannot be made.
func (c *Courier) Client(t testing.TB) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{URL: c.URL})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// WaitStatus polls message id until its status is want, for up to 30 s.
func WaitStatus(t testing.TB, c *client.Client, id string, want wire.Status) wire.Message {
	t.Helper()
	return WaitStatusUntil(t, c, id, want, time.Now().Add(30*time.Second))
}

// WaitStatusUntil polls message id until its status is want, failing t at
// deadline: a test that waits for many messages gives them one deadline.
func WaitStatusUntil(t testing.TB, c *client.Client, id string, want wire.Status, deadline time.Time) wire.Message {
	t.Helper()
	for {
		v, err := c.Get(context.Background(), id)
		if err == nil && v.Status == want {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s: want %s, have %q (%v)", id, want, v.Status, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Log is what courier dev wrote so far.
func (c *Courier) Log() string { return c.log.String() }

// Output collects what a process writes while a test reads it: the
// process's io.Writer, safe for a concurrent String.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

// String is everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// repoRoot is the Courier checkout this module sits in.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/courier-mq/courier\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside a Courier checkout")
		}
		dir = parent
	}
}

func freePort() (int, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
