package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/internal/syncbuf"
)

// TestExampleFlagsAndEnv starts the example services, in each language they
// are written in, against one `courier dev`: configured by environment
// variables alone, then by flags over environment variables that point
// elsewhere. It requires:
//   - -h names the environment variable of every setting;
//   - with the environment alone, a service listens, reaches Courier and
//     Kafka where the variables say, and keeps its database, left unnamed,
//     in the user's cache directory, which it prints at start: nothing is
//     written into the source tree, even when started from examples/ as the
//     README does;
//   - a flag wins over its variable;
//   - a declined payment's answer carries its message_id, and the gateway
//     reports that message CANCELLED.
//
// Like TestPythonPaymentToTypeScriptAccounting, it needs /usr/bin/python3
// and node with npm.
func TestExampleFlagsAndEnv(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	dir := t.TempDir()
	goServices := buildGoExamples(t, dir)
	python := "/usr/bin/python3"
	_, err = os.Stat(python)
	require.NoError(t, err, "the Python example needs %s", python)
	node, err := exec.LookPath("node")
	require.NoError(t, err, "the TypeScript example needs node")
	tsAccounting := buildTypeScriptAccounting(t, root)
	gateway, kafka, dev := startDev(t, dir)
	defer func() {
		if t.Failed() {
			t.Logf("courier log:\n%s", dev.LogTail(4<<10))
		}
	}()

	pythonPath := "PYTHONPATH=" + filepath.Join(root, "clients", "python")
	payments := []struct {
		name string
		cmd  command
		env  []string
	}{
		{"go", goServices.payment, nil},
		{"python", command{bin: python, args: []string{filepath.Join(root, "examples", "python", "payment.py")}}, []string{pythonPath}},
	}
	for _, p := range payments {
		t.Run("payment/"+p.name, func(t *testing.T) {
			testPaymentConfig(t, root, p.cmd, p.env, gateway)
		})
	}

	// The accounting services consume what a payment service produces.
	producer := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	startService(t, goServices.payment, dir, serviceEnv(t.TempDir()),
		"-addr", producer, "-db", filepath.Join(dir, "producer.db"), "-courier", gateway, "-api-key", paymentKey).waitListening(t, producer)
	accountings := []struct {
		name string
		cmd  command
	}{
		{"go", goServices.accounting},
		{"typescript", command{bin: node, args: []string{tsAccounting}}},
	}
	for _, a := range accountings {
		t.Run("accounting/"+a.name, func(t *testing.T) {
			testAccountingConfig(t, root, a.name, a.cmd, producer, gateway, kafka)
		})
	}
}

// testPaymentConfig is TestExampleFlagsAndEnv for one payment service.
func testPaymentConfig(t *testing.T, root string, svc command, env []string, gateway string) {
	t.Run("help", func(t *testing.T) {
		help := helpText(t, svc, env)
		for _, name := range []string{"PAYMENT_ADDR", "PAYMENT_DB", "COURIER_URL", "COURIER_API_KEY"} {
			require.Contains(t, help, name, "-h names every variable")
		}
	})

	t.Run("env", func(t *testing.T) {
		home := t.TempDir()
		addr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
		before := sourceTree(t, root)
		// Started from examples/, as `go -C examples run ./payment` is.
		s := startService(t, svc, filepath.Join(root, "examples"), serviceEnv(home, append(slices.Clone(env),
			"PAYMENT_ADDR="+addr, "COURIER_URL="+gateway, "COURIER_API_KEY="+paymentKey)...))
		s.waitListening(t, addr)

		paid := payOrder(t, addr, "env-paid", 4200, http.StatusOK)
		waitStatus(t, gateway, paid, "SCHEDULED", "SENDING", "DELIVERED", "COMPLETED")
		declined := payOrder(t, addr, "env-declined", 0, http.StatusPaymentRequired)
		waitStatus(t, gateway, declined, "CANCELLED")

		db := filepath.Join(home, ".cache", "courier-examples", "payment.db")
		require.FileExists(t, db, "the database is in the user's cache directory")
		require.Contains(t, s.output(), db, "the service prints where its database is")
		s.stop()
		require.Equal(t, before, sourceTree(t, root), "files the service left in the source tree")
	})

	t.Run("flags over env", func(t *testing.T) {
		dir := t.TempDir()
		ports := freePorts(t, 3)
		envAddr, addr := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
		envDB, db := filepath.Join(dir, "env.db"), filepath.Join(dir, "flag.db")
		s := startService(t, svc, dir, serviceEnv(dir, append(slices.Clone(env),
			"PAYMENT_ADDR="+envAddr, "PAYMENT_DB="+envDB,
			fmt.Sprintf("COURIER_URL=http://127.0.0.1:%d", ports[2]), "COURIER_API_KEY=e2e-wrong-key-0123456789")...),
			"-addr", addr, "-db", db, "-courier", gateway, "-api-key", paymentKey)
		s.waitListening(t, addr)

		// Paid and declined: Courier was reached at -courier with -api-key.
		paid := payOrder(t, addr, "flags-paid", 4200, http.StatusOK)
		waitStatus(t, gateway, paid, "SCHEDULED", "SENDING", "DELIVERED", "COMPLETED")
		declined := payOrder(t, addr, "flags-declined", 0, http.StatusPaymentRequired)
		waitStatus(t, gateway, declined, "CANCELLED")
		require.Equal(t, map[string]bool{"flags-paid": true}, ids(t, db, "SELECT id FROM orders"), "orders in -db")
		require.NoFileExists(t, envDB, "PAYMENT_DB, overridden by -db")
		_, err := net.DialTimeout("tcp", envAddr, time.Second)
		require.Error(t, err, "PAYMENT_ADDR, overridden by -addr, is not listened on")
	})
}

// testAccountingConfig is TestExampleFlagsAndEnv for accounting service
// name; the payment service at producer pays the orders it books.
func testAccountingConfig(t *testing.T, root, name string, svc command, producer, gateway, kafka string) {
	t.Run("help", func(t *testing.T) {
		help := helpText(t, svc, nil)
		for _, name := range []string{"ACCOUNTING_DB", "COURIER_URL", "COURIER_KAFKA_BROKERS", "COURIER_API_KEY"} {
			require.Contains(t, help, name, "-h names every variable")
		}
	})

	t.Run("env", func(t *testing.T) {
		home := t.TempDir()
		before := sourceTree(t, root)
		s := startService(t, svc, filepath.Join(root, "examples"), serviceEnv(home,
			"COURIER_URL="+gateway, "COURIER_KAFKA_BROKERS="+kafka, "COURIER_API_KEY="+accountingKey))
		order := name + "-env"
		// COMPLETED: consumed from COURIER_KAFKA_BROKERS, completed at
		// COURIER_URL.
		waitStatus(t, gateway, payOrder(t, producer, order, 4200, http.StatusOK), "COMPLETED")

		db := filepath.Join(home, ".cache", "courier-examples", "accounting.db")
		require.Contains(t, ids(t, db, "SELECT order_id FROM vouchers"), order, "the voucher is in the user's cache directory")
		require.Contains(t, s.output(), db, "the service prints where its database is")
		s.stop()
		require.Equal(t, before, sourceTree(t, root), "files the service left in the source tree")
	})

	t.Run("flags over env", func(t *testing.T) {
		dir := t.TempDir()
		ports := freePorts(t, 2)
		envDB, db := filepath.Join(dir, "env.db"), filepath.Join(dir, "flag.db")
		startService(t, svc, dir, serviceEnv(dir, "ACCOUNTING_DB="+envDB,
			fmt.Sprintf("COURIER_URL=http://127.0.0.1:%d", ports[0]), fmt.Sprintf("COURIER_KAFKA_BROKERS=127.0.0.1:%d", ports[1]),
			"COURIER_API_KEY=e2e-wrong-key-0123456789"),
			"-db", db, "-courier", gateway, "-kafka", kafka, "-api-key", accountingKey)
		order := name + "-flags"
		waitStatus(t, gateway, payOrder(t, producer, order, 4200, http.StatusOK), "COMPLETED")
		require.Contains(t, ids(t, db, "SELECT order_id FROM vouchers"), order, "the voucher is in -db")
		require.NoFileExists(t, envDB, "ACCOUNTING_DB, overridden by -db")
	})
}

// serviceEnv is the environment of a service run: this process's without
// any variable a service reads or bases its cache directory on, then HOME
// and vars.
func serviceEnv(home string, vars ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "HOME" || name == "XDG_CACHE_HOME" ||
			strings.HasPrefix(name, "COURIER_") || strings.HasPrefix(name, "PAYMENT_") || strings.HasPrefix(name, "ACCOUNTING_") {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, "HOME="+home), vars...)
}

// helpText is what svc -h prints.
func helpText(t *testing.T, svc command, env []string) string {
	cmd := exec.CommandContext(t.Context(), svc.bin, append(slices.Clone(svc.args), "-h")...)
	cmd.Env = serviceEnv(t.TempDir(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s -h: %s", svc.bin, out)
	return string(out)
}

// sourceTree is git's view of examples/, ignored files included: a file a
// service writes there shows, whether .gitignore hides it or not.
func sourceTree(t *testing.T, root string) string {
	out, err := exec.CommandContext(t.Context(), "git", "-C", root, "status", "--porcelain", "--ignored", "--", "examples").CombinedOutput()
	require.NoError(t, err, "git status: %s", out)
	return string(out)
}

// service is a run of an example service, its output kept.
type service struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
}

// startService runs svc with flags in dir with exactly env; it is stopped
// when the test ends.
func startService(t *testing.T, svc command, dir string, env []string, flags ...string) *service {
	cmd := exec.Command(svc.bin, append(slices.Clone(svc.args), flags...)...)
	cmd.Dir, cmd.Env = dir, env
	s := &service{cmd: cmd, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", svc.bin, s.output())
		}
	})
	return s
}

// waitListening waits until the service accepts connections at addr.
func (s *service) waitListening(t *testing.T, addr string) {
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-s.done:
			t.Fatalf("%s exited: %s", s.cmd.Path, s.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s: %s", s.cmd.Path, addr, s.output())
		}
	}
}

func (s *service) output() string { return s.out.String() }

// stop ends the service with SIGTERM, or SIGKILL if it does not stop.
func (s *service) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// payOrder pays order at the payment service at addr, requires the answer
// code and a message_id in the answer, and returns the message_id.
func payOrder(t *testing.T, addr, order string, amount int, code int) string {
	body, _ := json.Marshal(map[string]any{"order_id": order, "amount": amount})
	resp, err := http.Post("http://"+addr+"/pay", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var answer map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
	require.Equal(t, code, resp.StatusCode, "answer to paying %s: %v", order, answer)
	require.Equal(t, order, answer["order_id"], "answer: %v", answer)
	require.NotEmpty(t, answer["message_id"], "the answer names its message: %v", answer)
	return answer["message_id"]
}

// waitStatus waits until the gateway reports message id in one of want.
func waitStatus(t *testing.T, gateway, id string, want ...string) {
	var last string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, gateway+"/v1/messages/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+adminKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var m struct {
			Status string `json:"status"`
		}
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK {
			last = m.Status
			if slices.Contains(want, last) {
				return
			}
		}
	}
	t.Fatalf("message %s is %q, want one of %v", id, last, want)
}
