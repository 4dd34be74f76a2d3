package worker_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/internal/teststack"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
)

// record re-records workflows/testdata from these runs:
//
//	go test ./worker -run TestLifecycle -record
var record = flag.Bool("record", false, "write each path's workflow history to ../workflows/testdata")

const topic = "orders"

// stack is a real Courier engine (internal/teststack: an in-process Temporal
// server, a kfake broker, a SQLite mirror, a producer's check-back endpoint
// and a Kafka consumer that sees everything published) with helpers for
// driving one message at a time.
type stack struct {
	*teststack.Stack
	client client.Client
	store  *store.Store
}

func setup(t *testing.T) *stack {
	t.Helper()
	ts := teststack.New(t, teststack.Config{Topics: []string{topic}})
	return &stack{Stack: ts, client: ts.Client, store: ts.Store}
}

// policy runs the lifecycle in seconds.
func policy() contract.Policy {
	return contract.Policy{
		CheckDelay:         200 * time.Millisecond,
		CheckBackoff:       1.5,
		CheckMaxDelay:      time.Second,
		CheckMaxAttempts:   3,
		CheckTimeout:       2 * time.Second,
		ResendIntervals:    []time.Duration{10 * time.Second, 10 * time.Second},
		PublishMaxInterval: time.Second,
	}
}

func (s *stack) message(id string) contract.Input {
	return contract.Input{
		Message: contract.Message{
			ID:       id,
			Topic:    topic,
			Key:      "customer-" + id,
			Payload:  []byte(`{"id":"` + id + `"}`),
			Headers:  map[string]string{"trace-id": "t-" + id},
			Producer: "orders-svc",
			CheckURL: s.Checks.URL,
		},
		Policy:  policy(),
		Version: contract.CurrentVersion,
	}
}

func (s *stack) start(t *testing.T, in contract.Input) client.WorkflowRun {
	t.Helper()
	run, err := s.client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID:        contract.WorkflowID(in.Message.ID),
		TaskQueue: contract.TaskQueue,
	}, contract.WorkflowType, in)
	require.NoError(t, err)
	return run
}

func (s *stack) signal(t *testing.T, id, name string, arg any) {
	t.Helper()
	require.NoError(t, s.client.SignalWorkflow(context.Background(), contract.WorkflowID(id), "", name, arg))
}

// update sends an update that must be applied and returns its answer.
func (s *stack) update(t *testing.T, id, name string, arg any) contract.UpdateResult {
	t.Helper()
	res, err := s.updateErr(id, name, arg)
	require.NoError(t, err)
	return res
}

func (s *stack) updateErr(id, name string, arg any) (contract.UpdateResult, error) {
	return update(context.Background(), s.client, id, "", name, arg)
}

func (s *stack) state(t *testing.T, id string) contract.State {
	t.Helper()
	st, err := s.queryState(id)
	require.NoError(t, err)
	return st
}

// queryState is safe inside require.Eventually, whose condition runs in a
// goroutine of its own where require must not fail the test.
func (s *stack) queryState(id string) (contract.State, error) {
	var st contract.State
	v, err := s.client.QueryWorkflow(context.Background(), contract.WorkflowID(id), "", contract.QueryState)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

func (s *stack) waitStatus(t *testing.T, id string, want wire.Status) contract.State {
	t.Helper()
	var st contract.State
	require.Eventually(t, func() bool {
		var err error
		st, err = s.queryState(id)
		return err == nil && st.Status == want
	}, 30*time.Second, 50*time.Millisecond, "message %s never reached %s", id, want)
	return st
}

func (s *stack) result(t *testing.T, run client.WorkflowRun) contract.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var res contract.Result
	require.NoError(t, run.Get(ctx, &res))
	return res
}

// mirrorRow waits until the mirror shows status and returns the row.
func (s *stack) mirrorRow(t *testing.T, id string, want wire.Status) *models.Message {
	t.Helper()
	var row *models.Message
	require.Eventually(t, func() bool {
		var err error
		row, err = s.store.Get(context.Background(), id)
		return err == nil && row.Status == want
	}, 30*time.Second, 50*time.Millisecond, "mirror of %s never showed %s", id, want)
	return row
}

// recordHistory writes the run's history under workflows/testdata when
// -record is set.
func (s *stack) recordHistory(t *testing.T, run client.WorkflowRun, name string) {
	t.Helper()
	if !*record {
		return
	}
	hist := &historypb.History{Events: s.history(t, run)}
	data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	require.NoError(t, err)
	path := filepath.Join("..", "workflows", "testdata", name+".json")
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, append(data, '\n'), 0o644))
	t.Logf("recorded %s (%d events)", path, len(hist.Events))
}

// history is every event of a run's history.
func (s *stack) history(t *testing.T, run client.WorkflowRun) []*historypb.HistoryEvent {
	t.Helper()
	iter := s.client.GetWorkflowHistory(context.Background(), run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		events = append(events, ev)
	}
	return events
}

// versionEvents counts the GetVersion markers in a run's history and the
// upserts of TemporalChangeVersion that come with them.
func (s *stack) versionEvents(t *testing.T, run client.WorkflowRun) (markers, upserts int) {
	t.Helper()
	for _, ev := range s.history(t, run) {
		if ev.GetMarkerRecordedEventAttributes().GetMarkerName() == "Version" {
			markers++
		}
		if _, ok := ev.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()["TemporalChangeVersion"]; ok {
			upserts++
		}
	}
	return markers, upserts
}

// TestLifecycle drives every path of the lifecycle end to end on a real
// Temporal server, a real Kafka-protocol broker and a real mirror database.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	s := setup(t)

	t.Run("confirm", func(t *testing.T) {
		t.Parallel()
		run := s.start(t, s.message("confirm-1"))
		s.mirrorRow(t, "confirm-1", wire.StatusWaitingConfirm)
		s.signal(t, "confirm-1", contract.SignalConfirm, contract.Decision{By: "producer"})
		rec := s.Kafka.Wait(t, "confirm-1", 1)[0]
		require.Equal(t, "customer-confirm-1", rec.Key)
		require.Equal(t, `{"id":"confirm-1"}`, rec.Value)
		require.Equal(t, "t-confirm-1", rec.Headers["trace-id"])
		require.Equal(t, "1", rec.Headers[wire.HeaderAttempt])
		s.signal(t, "confirm-1", contract.SignalComplete, contract.Completion{Consumer: "accounting"})
		res := s.result(t, run)
		require.Equal(t, wire.StatusCompleted, res.Status)
		row := s.mirrorRow(t, "confirm-1", wire.StatusCompleted)
		require.Equal(t, 1, row.SendCount)
		require.NotNil(t, row.ConfirmedAt)
		require.NotNil(t, row.PublishedAt)
		require.NotNil(t, row.CompletedAt)
		require.Equal(t, []byte(`{"id":"confirm-1"}`), row.Payload)
		s.recordHistory(t, run, "confirm_complete")
	})

	t.Run("confirm and complete by update", func(t *testing.T) {
		t.Parallel()
		run := s.start(t, s.message("update-1"))
		s.mirrorRow(t, "update-1", wire.StatusWaitingConfirm)
		require.Equal(t, contract.UpdateResult{Status: wire.StatusWaitingConfirm, After: wire.StatusSending},
			s.update(t, "update-1", contract.SignalConfirm, contract.Decision{By: "producer"}))
		// The update answers once the workflow has acted on it: the record
		// is in Kafka and a second confirm is a repeat.
		require.Len(t, s.Kafka.Wait(t, "update-1", 1), 1)
		_, err := s.updateErr("update-1", contract.SignalConfirm, contract.Decision{By: "producer"})
		var appErr *temporal.ApplicationError
		require.ErrorAs(t, err, &appErr)
		require.Equal(t, contract.UpdateRepeated, appErr.Type())
		require.Equal(t, contract.UpdateResult{Status: wire.StatusDelivered, After: wire.StatusCompleted},
			s.update(t, "update-1", contract.SignalComplete, contract.Completion{Consumer: "accounting"}))
		require.Equal(t, wire.StatusCompleted, s.result(t, run).Status)
		s.mirrorRow(t, "update-1", wire.StatusCompleted)
		s.recordHistory(t, run, "update_confirm_complete")
	})

	t.Run("early complete held until the confirm", func(t *testing.T) {
		t.Parallel()
		// The consumer's complete comes while the workflow still says
		// WAITING_CONFIRM, as after a lost task that had published: it is
		// held, and applied right after the confirm's publish.
		run := s.start(t, s.message("early-1"))
		s.mirrorRow(t, "early-1", wire.StatusWaitingConfirm)
		held := s.update(t, "early-1", contract.SignalComplete, contract.Completion{Consumer: "accounting"})
		require.Equal(t, wire.StatusWaitingConfirm, held.Status)
		require.Equal(t, wire.Accepted, held.Outcome)
		st := s.state(t, "early-1")
		require.Len(t, st.EarlyCompletions, 1)
		require.Equal(t, "accounting", st.EarlyCompletions[0].Consumer)
		require.Empty(t, s.Kafka.Records("early-1"), "the complete did not send the message")
		s.update(t, "early-1", contract.SignalConfirm, contract.Decision{By: "producer"})
		res := s.result(t, run)
		require.Equal(t, wire.StatusCompleted, res.Status)
		require.Equal(t, []string{"accounting"}, res.CompletedBy)
		require.Len(t, s.Kafka.Records("early-1"), 1)
		s.mirrorRow(t, "early-1", wire.StatusCompleted)
		s.recordHistory(t, run, "early_complete")
	})

	// A cancel before the confirm ends the message CANCELLED, whether or not
	// an early complete came first; the Cleanup below checks that neither
	// reached Kafka.
	for _, tc := range []struct {
		name, id, history string
		earlyComplete     bool
	}{
		{name: "cancel", id: "cancel-1", history: "cancel"},
		{name: "early complete dropped by the cancel", id: "early-cancel-1", history: "early_complete_cancel", earlyComplete: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			run := s.start(t, s.message(tc.id))
			if tc.earlyComplete {
				s.signal(t, tc.id, contract.SignalComplete, contract.Completion{})
			}
			s.signal(t, tc.id, contract.SignalCancel, contract.Decision{By: "producer"})
			require.Equal(t, wire.StatusCancelled, s.result(t, run).Status)
			s.mirrorRow(t, tc.id, wire.StatusCancelled)
			s.recordHistory(t, run, tc.history)
		})
	}

	t.Run("check-back committed", func(t *testing.T) {
		t.Parallel()
		s.Checks.Answer("check-commit-1", models.CheckCommitted)
		run := s.start(t, s.message("check-commit-1"))
		s.Kafka.Wait(t, "check-commit-1", 1)
		s.signal(t, "check-commit-1", contract.SignalComplete, contract.Completion{})
		res := s.result(t, run)
		require.Equal(t, wire.StatusCompleted, res.Status)
		require.Equal(t, 1, res.CheckCount)
		s.recordHistory(t, run, "checkback_committed")
	})

	t.Run("check-back rolled back", func(t *testing.T) {
		t.Parallel()
		s.Checks.Answer("check-rollback-1", models.CheckRolledBack)
		run := s.start(t, s.message("check-rollback-1"))
		res := s.result(t, run)
		require.Equal(t, wire.StatusCancelled, res.Status)
		require.Equal(t, 1, res.CheckCount)
		s.recordHistory(t, run, "checkback_rolled_back")
	})

	t.Run("check-back exhausted then operator confirms", func(t *testing.T) {
		t.Parallel()
		run := s.start(t, s.message("exhausted-1")) // the producer answers UNKNOWN
		st := s.waitStatus(t, "exhausted-1", wire.StatusCheckExhausted)
		require.Equal(t, 3, st.CheckCount)
		for _, c := range st.Checks {
			require.Equal(t, models.CheckUnknown, c.Answer)
		}
		row := s.mirrorRow(t, "exhausted-1", wire.StatusCheckExhausted)
		require.Equal(t, 3, row.CheckCount)
		require.Empty(t, s.Kafka.Records("exhausted-1"), "an unconfirmed message is never sent")
		s.signal(t, "exhausted-1", contract.SignalConfirm, contract.Decision{By: "operator"})
		s.Kafka.Wait(t, "exhausted-1", 1)
		s.signal(t, "exhausted-1", contract.SignalComplete, contract.Completion{})
		require.Equal(t, wire.StatusCompleted, s.result(t, run).Status)
		s.recordHistory(t, run, "checkback_exhausted_confirm")
	})

	t.Run("resends then dead then redrive", func(t *testing.T) {
		t.Parallel()
		in := s.message("dead-1")
		in.Confirmed = true
		in.Policy.ResendIntervals = []time.Duration{300 * time.Millisecond, 300 * time.Millisecond}
		run := s.start(t, in)
		st := s.waitStatus(t, "dead-1", wire.StatusDead)
		require.Equal(t, 2, st.SendCount)
		recs := s.Kafka.Wait(t, "dead-1", 2)
		require.Equal(t, "1", recs[0].Headers[wire.HeaderAttempt])
		require.Equal(t, "2", recs[1].Headers[wire.HeaderAttempt])
		require.Equal(t, recs[0].Partition, recs[1].Partition, "one key, one partition")
		row := s.mirrorRow(t, "dead-1", wire.StatusDead)
		require.Contains(t, row.LastError, "not completed after 2 sends")
		s.signal(t, "dead-1", contract.SignalRedrive, contract.Decision{By: "operator"})
		s.Kafka.Wait(t, "dead-1", 3)
		s.signal(t, "dead-1", contract.SignalComplete, contract.Completion{})
		res := s.result(t, run)
		require.Equal(t, wire.StatusCompleted, res.Status)
		require.Equal(t, 1, res.SendCount, "a re-drive starts counting sends again")
		s.recordHistory(t, run, "resend_dead_redrive")
	})

	t.Run("rejected by kafka is dead", func(t *testing.T) {
		t.Parallel()
		in := s.message("too-large-1")
		in.Confirmed = true
		in.Message.Payload = make([]byte, activities.DefaultMaxMessageBytes+1)
		run := s.start(t, in)
		st := s.waitStatus(t, "too-large-1", wire.StatusDead)
		require.Contains(t, st.LastError, "rejected")
		require.Len(t, st.Publishes, 1, "a permanent rejection is not retried")
		row := s.mirrorRow(t, "too-large-1", wire.StatusDead)
		require.Equal(t, st.LastError, row.LastError)
		// Re-driving cannot make it fit: DEAD again, with the same reason.
		s.signal(t, "too-large-1", contract.SignalRedrive, contract.Decision{By: "operator"})
		require.Eventually(t, func() bool {
			st, err := s.queryState("too-large-1")
			return err == nil && st.Status == wire.StatusDead && len(st.Publishes) == 2
		}, 30*time.Second, 50*time.Millisecond)
		require.Empty(t, s.Kafka.Records("too-large-1"))
		// The operator settles it by hand: a late complete still completes.
		s.signal(t, "too-large-1", contract.SignalComplete, contract.Completion{Consumer: "operator"})
		require.Equal(t, wire.StatusCompleted, s.result(t, run).Status)
	})

	t.Run("fan-out", func(t *testing.T) {
		t.Parallel()
		in := s.message("fanout-1")
		in.Confirmed = true
		in.Message.Consumers = []string{"accounting", "points"}
		run := s.start(t, in)
		s.Kafka.Wait(t, "fanout-1", 1)
		s.signal(t, "fanout-1", contract.SignalComplete, contract.Completion{Consumer: "accounting"})
		s.signal(t, "fanout-1", contract.SignalComplete, contract.Completion{Consumer: "accounting"})
		s.signal(t, "fanout-1", contract.SignalComplete, contract.Completion{Consumer: "billing"})
		require.Eventually(t, func() bool {
			st, err := s.queryState("fanout-1")
			return err == nil && len(st.Signals) == 3
		}, 10*time.Second, 20*time.Millisecond)
		st := s.state(t, "fanout-1")
		require.Equal(t, wire.StatusDelivered, st.Status)
		require.Equal(t, []wire.Outcome{wire.Applied, wire.Repeated, wire.Rejected},
			[]wire.Outcome{st.Signals[0].Outcome, st.Signals[1].Outcome, st.Signals[2].Outcome})
		s.signal(t, "fanout-1", contract.SignalComplete, contract.Completion{Consumer: "points"})
		res := s.result(t, run)
		require.Equal(t, wire.StatusCompleted, res.Status)
		require.Equal(t, []string{"accounting", "points"}, res.CompletedBy)
		s.recordHistory(t, run, "fanout")
	})

	t.Run("deliver at", func(t *testing.T) {
		t.Parallel()
		in := s.message("delayed-1")
		deliverAt := time.Now().Add(2 * time.Second).UTC()
		in.Message.DeliverAt = &deliverAt
		run := s.start(t, in)
		s.signal(t, "delayed-1", contract.SignalConfirm, contract.Decision{})
		s.waitStatus(t, "delayed-1", wire.StatusScheduled)
		rec := s.Kafka.Wait(t, "delayed-1", 1)[0]
		require.False(t, rec.Seen.Before(deliverAt), "sent at %s, before deliver_at %s", rec.Seen, deliverAt)
		s.signal(t, "delayed-1", contract.SignalComplete, contract.Completion{})
		require.Equal(t, wire.StatusCompleted, s.result(t, run).Status)
		s.recordHistory(t, run, "deliver_at")
	})

	t.Run("direct send", func(t *testing.T) {
		t.Parallel()
		in := s.message("direct-1")
		in.Confirmed = true
		run := s.start(t, in)
		s.Kafka.Wait(t, "direct-1", 1)
		s.signal(t, "direct-1", contract.SignalComplete, contract.Completion{})
		res := s.result(t, run)
		require.Equal(t, wire.StatusCompleted, res.Status)
		require.Equal(t, 0, res.CheckCount)
		s.recordHistory(t, run, "direct_send")
	})

	t.Run("version in the input needs no marker", func(t *testing.T) {
		t.Parallel()
		// The version pinned in the input (as the gateway starts every
		// message) costs the history no GetVersion marker and no
		// TemporalChangeVersion upsert. Unpinned inputs are retired; the
		// workflow package's tests show they fail their workflow task.
		in := s.message("pinned-1")
		in.Confirmed = true
		run := s.start(t, in)
		s.Kafka.Wait(t, "pinned-1", 1)
		s.signal(t, "pinned-1", contract.SignalComplete, contract.Completion{})
		require.Equal(t, wire.StatusCompleted, s.result(t, run).Status)
		markers, upserts := s.versionEvents(t, run)
		require.Zero(t, markers, "version markers")
		require.Zero(t, upserts, "TemporalChangeVersion upserts")
		s.mirrorRow(t, "pinned-1", wire.StatusCompleted)
	})

	t.Run("search attributes", func(t *testing.T) {
		t.Parallel()
		run := s.start(t, s.message("search-1"))
		s.waitStatus(t, "search-1", wire.StatusWaitingConfirm)
		query := fmt.Sprintf(`%s = %q AND %s = %q AND WorkflowId = %q`,
			contract.SearchAttrStatus.GetName(), wire.StatusWaitingConfirm,
			contract.SearchAttrTopic.GetName(), topic, contract.WorkflowID("search-1"))
		require.Eventually(t, func() bool {
			resp, err := s.client.ListWorkflow(context.Background(), listRequest(query))
			return err == nil && len(resp.GetExecutions()) == 1
		}, 20*time.Second, 100*time.Millisecond, "the Web UI query %s finds the message", query)
		s.signal(t, "search-1", contract.SignalCancel, contract.Decision{})
		require.Equal(t, wire.StatusCancelled, s.result(t, run).Status)
	})

	t.Cleanup(func() {
		for _, id := range []string{"cancel-1", "check-rollback-1", "early-cancel-1"} {
			require.Empty(t, s.Kafka.Records(id), "cancelled message %s reached Kafka", id)
		}
	})
}

func listRequest(query string) *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{Query: query}
}

// TestLostRecordIsPublishedAgain: a broker that loses a record it had
// acknowledged (a dev broker after a power cut, a Kafka cluster after an
// unclean leader election) costs the message a delay, not the message: no
// consumer completes what it never received, so the resend schedule
// publishes it again, and the consumer completes that copy.
func TestLostRecordIsPublishedAgain(t *testing.T) {
	t.Parallel()
	s := setup(t)
	in := s.message("lost-1")
	in.Confirmed = true
	in.Policy.ResendIntervals = []time.Duration{2 * time.Second, time.Minute}
	run := s.start(t, in)
	first := s.Kafka.Wait(t, "lost-1", 1)[0]
	s.waitStatus(t, "lost-1", wire.StatusDelivered)

	// The broker loses it: the partition is truncated past the record.
	require.NoError(t, s.Cluster.DeleteRecords(topic, first.Partition, -1))

	again := s.Kafka.Wait(t, "lost-1", 2)[1]
	require.Equal(t, "2", again.Headers[wire.HeaderAttempt])
	require.Equal(t, first.Value, again.Value)
	s.signal(t, "lost-1", contract.SignalComplete, contract.Completion{})
	res := s.result(t, run)
	require.Equal(t, wire.StatusCompleted, res.Status)
	require.Equal(t, 2, res.SendCount)
}
