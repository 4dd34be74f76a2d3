package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	updatepb "go.temporal.io/api/update/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"golang.org/x/sync/errgroup"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/devstack"
	"github.com/courier-mq/courier/internal/freeport"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
	"github.com/courier-mq/courier/worker"
)

// TestUpdateTaskLostWithTheServer loses the workflow task that carried a
// confirm after it published the message and wrote DELIVERED to the mirror:
// the Temporal server stops before the task completes. The server records an
// update's task only when it completes, so the task that replaces it starts
// at the same history length. That one carries the confirm again and the
// consumer's complete (the consumer had the record), in either order: a
// complete that comes first finds the message WAITING_CONFIRM and is held,
// not refused, until the confirm's publish. Neither update may be refused,
// and the mirror row must end COMPLETED, as the workflow does.
func TestUpdateTaskLostWithTheServer(t *testing.T) {
	t.Parallel()
	r := newLossRig(t)
	// A restarted server may reload the workflow and abort the updates it
	// holds; the client sends them again, and then they may come in two
	// tasks, so that no task carrying both replaces the lost one at its
	// history length. Such an attempt proves nothing, so another is made.
	const attempts = 3
	for i := range attempts {
		if r.loseConfirm(t, fmt.Sprintf("lost-task-%d", i+1)) {
			return
		}
	}
	t.Fatalf("in %d attempts no task carrying both updates replaced the lost one at its history length", attempts)
}

// lossRig is a Temporal server on a data directory the test can stop and
// start again, a worker over a SQLite mirror that can hold a DELIVERED write,
// and a kfake broker.
type lossRig struct {
	cfg      devstack.TemporalConfig
	server   *devstack.Temporal
	client   client.Client
	producer sarama.SyncProducer
	mirror   *losingMirror
}

func newLossRig(t *testing.T) *lossRig {
	t.Helper()
	port, err := freeport.Port("127.0.0.1")
	require.NoError(t, err)
	r := &lossRig{cfg: devstack.TemporalConfig{
		DataDir:          t.TempDir(),
		Port:             port,
		SearchAttributes: worker.SearchAttributes(),
		Logger:           slog.New(slog.DiscardHandler),
	}}
	r.start(t)
	t.Cleanup(func() {
		if r.server != nil {
			_ = r.server.Stop()
		}
	})
	r.client, err = client.DialContext(t.Context(), client.Options{HostPort: r.server.HostPort(), Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	require.NoError(t, err)
	t.Cleanup(r.client.Close)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	r.producer, err = activities.NewProducer(activities.ProducerConfig{Brokers: cluster.ListenAddrs()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.producer.Close() })
	r.mirror = &losingMirror{Store: storetest.NewSQLite(t), holds: map[string]heldWrite{}}
	return r
}

func (r *lossRig) start(t *testing.T) {
	t.Helper()
	var err error
	r.server, err = devstack.StartTemporal(t.Context(), r.cfg)
	require.NoError(t, err)
}

func (r *lossRig) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, r.server.Stop())
	r.server = nil
}

// runWorker starts a worker and returns what stops it.
func (r *lossRig) runWorker(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, worker.Config{StopTimeout: time.Second, MirrorRetention: -1}, worker.Deps{
			Client:     r.client,
			Activities: &activities.Activities{Producer: r.producer, Mirror: r.mirror, HTTP: activities.NewCheckClient()},
			Logger:     slog.New(slog.DiscardHandler),
		})
	}()
	return func() {
		cancel()
		require.NoError(t, <-done)
	}
}

// loseConfirm runs the scenario for message id and reports whether the
// replacement task started at the lost one's history length.
func (r *lossRig) loseConfirm(t *testing.T, id string) bool {
	ctx := t.Context()
	in := contract.Input{
		Message: contract.Message{ID: id, Topic: topic, Payload: []byte(`{}`), CheckURL: "http://127.0.0.1:1/never-asked"},
		Policy:  policy(),
		Version: contract.CurrentVersion,
	}
	in.Policy.CheckDelay, in.Policy.CheckMaxDelay = time.Hour, time.Hour
	stopWorker := r.runWorker(t)
	wf, err := r.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: contract.WorkflowID(id), TaskQueue: contract.TaskQueue}, contract.WorkflowType, in)
	require.NoError(t, err)
	waitRow(t, r.mirror, id, wire.StatusWaitingConfirm)

	// The confirm's task publishes and writes DELIVERED; the server stops
	// before the task can complete, and the worker after it.
	delivered, release := r.mirror.hold(id)
	first, cancelFirst := context.WithCancel(ctx)
	defer cancelFirst()
	go func() {
		_, _ = update(first, r.client, id, "confirm-1", contract.SignalConfirm, contract.Decision{By: "producer"})
	}()
	select {
	case <-delivered:
	case <-time.After(30 * time.Second):
		t.Fatal("the confirm's task never wrote DELIVERED")
	}
	lost := waitRow(t, r.mirror, id, wire.StatusDelivered)
	r.stop(t)
	cancelFirst()
	close(release)
	stopWorker()

	r.start(t)
	// With no worker polling, the producer's confirm (sent again) and then
	// the consumer's complete wait for the same task.
	var answers errgroup.Group
	for _, u := range []struct {
		id, name string
		arg      any
	}{
		{"confirm-2", contract.SignalConfirm, contract.Decision{By: "producer"}},
		{"complete-1", contract.SignalComplete, contract.Completion{}},
	} {
		answers.Go(func() error {
			_, err := update(ctx, r.client, id, u.id, u.name, u.arg)
			return err
		})
		awaitAdmitted(t, r.client, id, u.id)
	}
	stopWorker = r.runWorker(t)
	defer stopWorker()
	require.NoError(t, answers.Wait(), "the consumer held the record: its complete is never refused")

	var res contract.Result
	require.NoError(t, r.client.GetWorkflow(ctx, contract.WorkflowID(id), wf.GetRunID()).Get(ctx, &res))
	require.Equal(t, wire.StatusCompleted, res.Status)
	row := waitRow(t, r.mirror, id, wire.StatusCompleted)
	require.Equal(t, 1, row.SendCount)
	return lost.Revision>>models.RevisionTaskShift == row.Revision>>models.RevisionTaskShift
}

// losingMirror is the mirror, whose DELIVERED write of a held message
// blocks, after it was applied, until release is closed, so that the test
// can stop the Temporal server while the workflow task that wrote it is
// still open.
type losingMirror struct {
	*store.Store
	mu    sync.Mutex
	holds map[string]heldWrite // by message id
}

// heldWrite is one message's DELIVERED write to hold: delivered is closed
// once it is applied, and the write returns when release is closed.
type heldWrite struct{ delivered, release chan struct{} }

// hold makes the next DELIVERED write of id block.
func (m *losingMirror) hold(id string) (delivered chan struct{}, release chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := heldWrite{delivered: make(chan struct{}), release: make(chan struct{})}
	m.holds[id] = h
	return h.delivered, h.release
}

func (m *losingMirror) Apply(ctx context.Context, tr models.Transition) (bool, error) {
	applied, err := m.Store.Apply(ctx, tr)
	if err == nil && tr.Status == wire.StatusDelivered {
		m.mu.Lock()
		h, ok := m.holds[tr.ID]
		delete(m.holds, tr.ID)
		m.mu.Unlock()
		if ok {
			close(h.delivered)
			<-h.release
		}
	}
	return applied, err
}

// update sends an update and waits for its answer; an empty updateID lets
// the client make one up.
func update(ctx context.Context, c client.Client, id, updateID, name string, arg any) (contract.UpdateResult, error) {
	var res contract.UpdateResult
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		UpdateID:     updateID,
		WorkflowID:   contract.WorkflowID(id),
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return res, err
	}
	return res, h.Get(ctx, &res)
}

// awaitAdmitted waits until the server holds update updateID of message id.
func awaitAdmitted(t *testing.T, c client.Client, id, updateID string) {
	t.Helper()
	req := &workflowservice.PollWorkflowExecutionUpdateRequest{
		Namespace: "default",
		UpdateRef: &updatepb.UpdateRef{WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: contract.WorkflowID(id)}, UpdateId: updateID},
	}
	require.Eventually(t, func() bool {
		res, err := c.WorkflowService().PollWorkflowExecutionUpdate(context.Background(), req)
		return err == nil && res.GetStage() >= enumspb.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
	}, 30*time.Second, 10*time.Millisecond, "update %s never reached the server", updateID)
}

// waitRow waits until the mirror row of id shows want and returns it.
func waitRow(t *testing.T, m *losingMirror, id string, want wire.Status) *models.Message {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		row, err := m.Get(t.Context(), id)
		if err == nil && row.Status == want {
			return row
		}
		if time.Now().After(deadline) {
			t.Fatalf("mirror row of %s never showed %s: %+v %v", id, want, row, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
