package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/courier-mq/courier/internal/freeport"
	"github.com/courier-mq/courier/test/chaos"
)

// payments is how many orders the test pays; every tenth is declined.
func payments() int {
	if n, err := strconv.Atoi(os.Getenv("COURIER_E2E_PAYMENTS")); err == nil && n > 0 {
		return n
	}
	return 1000
}

// TestPaymentToAccounting pays ≥1,000 orders through the payment example,
// some declined in the local transaction, while:
//   - the payment service is killed right after Courier answered a prepare
//     (after prepare, before COMMIT) and right when it sends a confirm (after
//     COMMIT, before confirm), each time restarted;
//   - the accounting service is killed every few seconds, mid-batch, and
//     restarted.
//
// At the end: exactly one voucher per paid order, none for a declined one,
// every message of a paid order COMPLETED and every other CANCELLED, none
// stuck.
func TestPaymentToAccounting(t *testing.T) {
	dir := t.TempDir()
	runPaymentToAccounting(t, dir, buildGoExamples(t, dir))
}

// buildGoExamples builds examples/payment and examples/accounting into dir.
func buildGoExamples(t *testing.T, dir string) services {
	build := exec.CommandContext(t.Context(), "go", "-C", "../../examples", "build", "-o", dir+"/", "./payment", "./accounting")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build the examples: %s", out)
	return services{
		payment:    command{bin: filepath.Join(dir, "payment")},
		accounting: command{bin: filepath.Join(dir, "accounting")},
	}
}

// command is how a service is started: a program and the arguments before
// its own flags (an interpreter's script, say).
type command struct {
	bin  string
	args []string
}

// services are the two example services a run starts. Each takes the Go
// examples' flags (-addr, -db, -courier, -kafka), reads COURIER_API_KEY,
// and keeps the Go examples' tables (orders; vouchers).
type services struct {
	payment, accounting command
}

// runPaymentToAccounting is TestPaymentToAccounting's run for any pair of
// services, with dir for their data.
func runPaymentToAccounting(t *testing.T, dir string, svc services) {
	ctx := t.Context()
	gateway, kafka, dev := startDev(t, dir)

	// The payment service reaches Courier through a proxy that kills it at
	// the worst moments.
	paymentAddr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	paymentDB := filepath.Join(dir, "payment.db")
	payment := chaos.NewProcess("payment", svc.payment.bin, nil, nil, filepath.Join(dir, "payment.log"))
	k := &killer{process: payment}
	proxy := httptest.NewServer(k.proxy(t, gateway))
	t.Cleanup(proxy.Close)
	*payment = *chaos.NewProcess("payment", svc.payment.bin,
		append(slices.Clone(svc.payment.args), "-addr", paymentAddr, "-db", paymentDB, "-courier", proxy.URL), map[string]string{"COURIER_API_KEY": paymentKey}, filepath.Join(dir, "payment.log"))
	require.NoError(t, payment.Start())
	t.Cleanup(func() { k.stop(); _ = payment.Stop() })

	accountingDB := filepath.Join(dir, "accounting.db")
	accounting := chaos.NewProcess("accounting", svc.accounting.bin,
		append(slices.Clone(svc.accounting.args), "-db", accountingDB, "-courier", gateway, "-kafka", kafka), map[string]string{"COURIER_API_KEY": accountingKey}, filepath.Join(dir, "accounting.log"))
	require.NoError(t, accounting.Start())
	t.Cleanup(func() { _ = accounting.Stop() })
	defer func() {
		if t.Failed() {
			t.Logf("payment log:\n%s\naccounting log:\n%s\ncourier log:\n%s", payment.LogTail(4<<10), accounting.LogTail(4<<10), dev.LogTail(4<<10))
		}
	}()

	// Kill accounting mid-batch every few seconds while payments flow.
	paying, donePaying := context.WithCancel(ctx)
	var accountingKills sync.WaitGroup
	accountingKills.Go(func() {
		for paying.Err() == nil {
			select {
			case <-paying.Done():
				return
			case <-time.After(time.Duration(2000+rand.IntN(3000)) * time.Millisecond):
			}
			if err := accounting.Kill(); err != nil {
				t.Error(err)
			}
			time.Sleep(300 * time.Millisecond)
			if err := accounting.Start(); err != nil {
				t.Error(err)
			}
		}
	})

	// Pay.
	n := payments()
	outcome := make([]string, n)
	var retries atomic.Int64
	var wg sync.WaitGroup
	orders := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range orders {
				outcome[i] = pay(ctx, t, "http://"+paymentAddr, i, &retries)
			}
		})
	}
	start := time.Now()
	for i := range n {
		orders <- i
	}
	close(orders)
	wg.Wait()
	payTime := time.Since(start)
	donePaying()
	accountingKills.Wait()
	k.stop()

	paid := map[string]bool{}
	declined := 0
	for i, o := range outcome {
		switch o {
		case "paid":
			paid[orderID(i)] = true
		case "declined":
			declined++
		default:
			t.Fatalf("order %d: %s", i, o)
		}
	}

	// Wait for every message to settle and every voucher to be booked.
	var st settled
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(time.Second) {
		st = settle(ctx, t, gateway)
		vouchers := count(t, accountingDB, "SELECT COUNT(*) FROM vouchers")
		if st.open == 0 && vouchers == len(paid) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled: %d messages open, %d other, %d completed, %d cancelled; %d vouchers for %d paid orders",
				st.open, len(st.other), len(st.completed), st.cancelled, vouchers, len(paid))
		}
	}

	// The payment database agrees with what the callers were told.
	require.Equal(t, paid, ids(t, paymentDB, "SELECT id FROM orders"), "paid orders")
	// Exactly one voucher per paid order, none for a declined one.
	require.Equal(t, paid, ids(t, accountingDB, "SELECT order_id FROM vouchers"), "vouchers")
	// Every paid order's message COMPLETED, every other one CANCELLED.
	require.Empty(t, st.other, "messages neither COMPLETED nor CANCELLED")
	require.Equal(t, paid, st.completed, "completed messages by order")

	t.Logf("\n| orders | paid | declined | messages COMPLETED | CANCELLED | vouchers | payment killed after prepare | after commit, before confirm | accounting killed | client retries | paying took |\n"+
		"|---|---|---|---|---|---|---|---|---|---|---|\n| %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %s |",
		n, len(paid), declined, len(st.completed), st.cancelled, count(t, accountingDB, "SELECT COUNT(*) FROM vouchers"),
		k.afterPrepare.Load(), k.beforeConfirm.Load(), accounting.Kills(), retries.Load(), payTime.Round(time.Second))
	require.Positive(t, k.afterPrepare.Load(), "the payment service was killed after a prepare")
	require.Positive(t, k.beforeConfirm.Load(), "the payment service was killed before a confirm")
	require.Positive(t, accounting.Kills(), "the accounting service was killed")
}

// startDev starts `courier dev` built from this checkout, with its data in
// dir and check-backs and resends seconds apart, and waits until it is
// ready. It returns the gateway's URL and the Kafka address.
func startDev(t *testing.T, dir string) (gateway, kafka string, dev *chaos.Process) {
	ctx := t.Context()
	courierBin, err := chaos.BuildCourier(ctx, dir)
	require.NoError(t, err)

	ports := freePorts(t, 3)
	gateway = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	kafka = fmt.Sprintf("127.0.0.1:%d", ports[2])
	dev = chaos.NewProcess("courier dev", courierBin, []string{"dev",
		"--data-dir", filepath.Join(dir, "courier-data"), "--no-ui",
		"--http-addr", strings.TrimPrefix(gateway, "http://"),
		"--temporal-port", strconv.Itoa(ports[1]), "--kafka-port", strconv.Itoa(ports[2]),
		"--check-delay", "1s", "--check-max-delay", "2s", "--check-timeout", "2s", "--check-max-attempts", "100",
		// Resends come soon, then less often: a consumer group still
		// re-forming after the last kill of a loaded CI machine must not
		// make a message whose complete was lost DEAD.
		"--resend-intervals", "3s,3s,3s,5s,10s,20s,30s,60s,60s,60s",
		"--worker-stop-timeout", "1s", "--log-level", "warn",
	}, map[string]string{"COURIER_API_KEYS": apiKeys}, filepath.Join(dir, "courier.log"))
	require.NoError(t, dev.Start())
	t.Cleanup(func() { _ = dev.Stop() })
	require.NoError(t, chaos.NewClient(gateway, adminKey).Ready(ctx, 2*time.Minute), "courier dev log:\n%s", dev.LogTail(4<<10))
	return gateway, kafka, dev
}

func orderID(i int) string { return fmt.Sprintf("order-%04d", i) }

// pay pays order i until the payment service gives an answer: "paid"
// (including "paid already", a retry of a payment that committed before
// its service died) or "declined".
func pay(ctx context.Context, t *testing.T, base string, i int, retries *atomic.Int64) string {
	amount := 100 + i
	if i%10 == 3 {
		amount = 0 // declined in the local transaction
	}
	body, _ := json.Marshal(map[string]any{"order_id": orderID(i), "amount": amount})
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			retries.Add(1)
			time.Sleep(200 * time.Millisecond)
		}
		if ctx.Err() != nil {
			return "test ended"
		}
		resp, err := http.Post(base+"/pay", "application/json", bytes.NewReader(body))
		if err != nil {
			continue // the service is down: pay again
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK, http.StatusConflict:
			return "paid"
		case http.StatusPaymentRequired:
			return "declined"
		}
	}
}

// killer kills the payment service through its Courier proxy: after Courier
// answered a prepare (before the transaction commits) and when a confirm is
// sent (after it committed), a few times each, spread over the run.
type killer struct {
	process       *chaos.Process
	mu            sync.Mutex
	last          time.Time
	stopped       bool
	afterPrepare  atomic.Int64
	beforeConfirm atomic.Int64
}

func (k *killer) proxy(t *testing.T, gateway string) http.Handler {
	target, err := url.Parse(gateway)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(target)
	// Requests of a killed service end mid-way; that is the point.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prepare := r.Method == http.MethodPost && r.URL.Path == "/v1/messages"
		confirm := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/confirm")
		if confirm && k.due() {
			k.beforeConfirm.Add(1)
			k.kill(t)
			return
		}
		if prepare && k.due() {
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			k.afterPrepare.Add(1)
			k.kill(t)
			return
		}
		rp.ServeHTTP(w, r)
	})
}

// due says whether to kill now: about one request in 40, at most once a
// second.
func (k *killer) due() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped || time.Since(k.last) < time.Second || rand.IntN(40) != 0 {
		return false
	}
	k.last = time.Now()
	return true
}

// kill kills the payment service and starts it again.
func (k *killer) kill(t *testing.T) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		return
	}
	if err := k.process.Kill(); err != nil {
		t.Error(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := k.process.Start(); err != nil {
		t.Error(err)
	}
}

func (k *killer) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
}

// settled is the messages of topic payments by status.
type settled struct {
	completed map[string]bool // order ids
	cancelled int
	open      int
	other     []string
}

// settle lists every message of topic payments from the gateway.
func settle(ctx context.Context, t *testing.T, gateway string) settled {
	st := settled{completed: map[string]bool{}}
	cursor := ""
	for {
		u := gateway + "/v1/messages?topic=payments&limit=500"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+adminKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var page struct {
			Messages []struct {
				ID     string `json:"id"`
				Key    string `json:"key"`
				Status string `json:"status"`
			} `json:"messages"`
			NextCursor string `json:"next_cursor"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
		resp.Body.Close()
		for _, m := range page.Messages {
			switch m.Status {
			case "COMPLETED":
				require.False(t, st.completed[m.Key], "two messages of order %s completed", m.Key)
				st.completed[m.Key] = true
			case "CANCELLED":
				st.cancelled++
			case "WAITING_CONFIRM", "SCHEDULED", "SENDING", "DELIVERED":
				st.open++
			default:
				st.other = append(st.other, m.ID+" "+m.Status)
			}
		}
		if page.NextCursor == "" {
			return st
		}
		cursor = page.NextCursor
	}
}

func openDB(t *testing.T, path string) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func count(t *testing.T, path, query string) int {
	var n int
	require.NoError(t, openDB(t, path).QueryRow(query).Scan(&n))
	return n
}

func ids(t *testing.T, path, query string) map[string]bool {
	rows, err := openDB(t, path).Query(query)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		out[id] = true
	}
	require.NoError(t, rows.Err())
	return out
}

// The example services run with keys, as in production: payment may only
// produce to payments and accounting only consume it; the test reads as an
// admin.
const (
	paymentKey    = "e2e-payment-key-0123456789"
	accountingKey = "e2e-accounting-key-0123456789"
	adminKey      = "e2e-admin-key-0123456789"
	apiKeys       = paymentKey + ":payment:producer:payments," + accountingKey + ":accounting:consumer:payments," + adminKey + ":ops:admin"
)

func freePorts(t *testing.T, n int) []int {
	ports := make([]int, n)
	for i := range ports {
		var err error
		ports[i], err = freeport.Port("127.0.0.1")
		require.NoError(t, err)
	}
	return ports
}
