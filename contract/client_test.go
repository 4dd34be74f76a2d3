package contract_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/internal/teststack"
	"github.com/courier-mq/courier/models"
)

// calls counts the Temporal RPCs a client makes, by method.
type calls struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *calls) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	c.mu.Lock()
	c.n[method[strings.LastIndex(method, "/")+1:]]++
	c.mu.Unlock()
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (c *calls) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// rows counts the mirror reads a client makes.
type rows struct {
	*teststack.Stack
	mu    sync.Mutex
	reads int
}

func (r *rows) Get(ctx context.Context, id string) (*models.Message, error) {
	r.mu.Lock()
	r.reads++
	r.mu.Unlock()
	return r.Store.Get(ctx, id)
}

// TestAskRemoteCalls holds the client to the calls its doc promises: one
// update when a worker answers; without one, the update, a description and
// a signal, and neither a state query nor a mirror read.
func TestAskRemoteCalls(t *testing.T) {
	st := teststack.New(t, teststack.Config{})
	counted := &calls{n: map[string]int{}}
	c, err := client.Dial(client.Options{
		HostPort:          st.HostPort,
		Namespace:         st.Namespace,
		ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(counted.intercept)}},
	})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	mirror := &rows{Stack: st}
	ask := func(taskQueue, id string) (contract.Answer, map[string]int, int) {
		m, err := contract.NewClient(c, contract.ClientConfig{TaskQueue: taskQueue, Rows: mirror, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		_, err = m.Start(t.Context(), st.Input(id), "fp")
		require.NoError(t, err)
		counted.take()
		mirror.reads = 0
		start := time.Now()
		a, err := m.Ask(t.Context(), id, contract.Request{Action: models.Confirm, By: "test"})
		require.NoError(t, err)
		n := counted.take()
		t.Logf("confirm on %q: %v in %s, %d mirror reads: %+v", taskQueue, n, time.Since(start).Round(time.Millisecond), mirror.reads, a)
		return a, n, mirror.reads
	}

	a, n, reads := ask("", "calls-worker")
	require.Equal(t, contract.Answer{Status: wire.StatusSending, Previous: wire.StatusWaitingConfirm, Disposition: wire.Applied}, a,
		"the workflow's answer names the status the confirm moved the message to")
	require.Equal(t, map[string]int{"UpdateWorkflowExecution": 1}, n, "a worker answers the update at once")
	require.Zero(t, reads)

	a, n, reads = ask("nobody-polls", "calls-idle")
	require.Equal(t, contract.Answer{Status: wire.StatusWaitingConfirm, Previous: wire.StatusWaitingConfirm, Disposition: wire.Applied}, a,
		"a signal not run yet leaves the message where it is")
	require.Equal(t, 1, n["DescribeWorkflowExecution"])
	require.Equal(t, 1, n["SignalWorkflowExecution"])
	require.Zero(t, n["QueryWorkflow"], "no state query waits for a worker that is not there")
	require.Zero(t, reads, "an open workflow is decided without the mirror")
}
