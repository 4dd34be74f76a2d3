package workflows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/internal/teststack"
	"github.com/courier-mq/courier/models"
)

// TestWebUITellsTheMessagesStory checks what the Temporal Web UI shows of a
// message that waits for its check-backs: the summary and details set at
// start, the current details, and the summaries of its timers and
// activities.
func TestWebUITellsTheMessagesStory(t *testing.T) {
	st := teststack.New(t, teststack.Config{})
	in := st.Input("webui-1")
	in.Message.Key, in.Message.Producer, in.Message.Consumers = "customer-7", "payment", []string{"accounting"}
	// Check-backs after 1 s and 5 s, the third 25 s later: the wait for
	// it, which the test reads, is long enough on a loaded machine.
	in.Policy.CheckDelay, in.Policy.CheckBackoff, in.Policy.CheckMaxDelay = time.Second, 5, time.Minute
	in.Policy.CheckMaxAttempts, in.Policy.CheckTimeout = 3, time.Second
	st.Start(t, in)
	wid := contract.WorkflowID(in.Message.ID)
	text := func(p *commonpb.Payload) string {
		var s string
		require.NoError(t, converter.GetDefaultDataConverter().FromPayload(p, &s))
		return s
	}

	d, err := st.Client.DescribeWorkflowExecution(t.Context(), wid, "")
	require.NoError(t, err)
	meta := d.GetExecutionConfig().GetUserMetadata()
	require.Equal(t, "to orders, key customer-7, from payment", text(meta.GetSummary()))
	details := text(meta.GetDetails())
	for _, want := range []string{"`webui-1`", "producer: `payment`", "first after 1s, at most 3", "completed by each of: accounting"} {
		require.Contains(t, details, want)
	}

	// After its second check-back it waits for the third.
	var current string
	require.Eventually(t, func() bool {
		v, err := st.Client.QueryWorkflow(context.Background(), wid, "", "__temporal_workflow_metadata")
		var wm sdkpb.WorkflowMetadata
		if err != nil || v.Get(&wm) != nil {
			return false
		}
		current = wm.GetCurrentDetails()
		return strings.Contains(current, "2 of 3 check-backs made")
	}, 30*time.Second, 50*time.Millisecond, "current details never said 2 of 3 check-backs")
	require.True(t, strings.HasPrefix(current, "**WAITING_CONFIRM**: waiting for confirm or cancel; 2 of 3 check-backs made"), current)
	require.Contains(t, current, "acts next at ")
	require.Contains(t, current, "last error: check-back 2: UNKNOWN")

	var timers, checks []string
	it := st.Client.GetWorkflowHistory(t.Context(), wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			timers = append(timers, text(ev.GetUserMetadata().GetSummary()))
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			if ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == "CheckBack" {
				checks = append(checks, text(ev.GetUserMetadata().GetSummary()))
			}
		}
	}
	require.GreaterOrEqual(t, len(timers), 3, "%q", timers)
	for i, want := range []string{"check-back 1 of 3 at ", "check-back 2 of 3 at ", "check-back 3 of 3 at "} {
		require.True(t, strings.HasPrefix(timers[i], want), "timer %d: %q", i, timers[i])
	}
	require.Equal(t, []string{"check-back 1 of 3", "check-back 2 of 3"}, checks[:2])
}

// TestWebUIShowsTheCourierStatus settles a CHECK_EXHAUSTED message as an
// operator does and reads what the Temporal Web UI has of it: Temporal calls
// its workflow completed, but the CourierStatus search attribute finds it as
// CANCELLED, its result says CANCELLED and who cancelled it and why, and its
// current details lead with the status.
func TestWebUIShowsTheCourierStatus(t *testing.T) {
	st := teststack.New(t, teststack.Config{})
	in := st.Input("webui-cancel")
	in.Policy.CheckDelay, in.Policy.CheckMaxDelay, in.Policy.CheckMaxAttempts, in.Policy.CheckTimeout = time.Second, time.Second, 1, time.Second
	st.Start(t, in)
	wid := contract.WorkflowID(in.Message.ID)
	require.Eventually(t, func() bool {
		s, err := st.Messages.State(context.Background(), in.Message.ID)
		return err == nil && s.Status == wire.StatusCheckExhausted
	}, 30*time.Second, 50*time.Millisecond)

	a, err := st.Messages.Ask(t.Context(), in.Message.ID, contract.Request{Action: models.Cancel, By: "alice", Reason: "duplicate order", Operator: true})
	require.NoError(t, err)
	require.Equal(t, wire.Applied, a.Disposition)
	var res contract.Result
	require.NoError(t, st.Client.GetWorkflow(t.Context(), wid, "").Get(t.Context(), &res))
	const note = `cancelled by operator alice: "duplicate order"`
	require.Equal(t, contract.Result{Status: wire.StatusCancelled, CheckCount: 1, LastError: note}, res)

	// The list query an operator types, and the column it fills.
	var found []*workflowpb.WorkflowExecutionInfo
	require.Eventually(t, func() bool {
		resp, err := st.Client.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: st.Namespace,
			// Closed: the status upsert comes a workflow task before the
			// close, so visibility can list it running and CANCELLED.
			Query: `CourierStatus = 'CANCELLED' AND ExecutionStatus = 'Completed' AND WorkflowId = '` + wid + `'`,
		})
		if err != nil {
			return false
		}
		found = resp.GetExecutions()
		return len(found) == 1
	}, 30*time.Second, 100*time.Millisecond, "CourierStatus = 'CANCELLED' never listed %s", wid)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, found[0].GetStatus(), "Temporal's own status of a cancelled message")
	var column string
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(found[0].GetSearchAttributes().GetIndexedFields()["CourierStatus"], &column))
	require.Equal(t, "CANCELLED", column)

	v, err := st.Client.QueryWorkflow(t.Context(), wid, "", "__temporal_workflow_metadata")
	require.NoError(t, err)
	var wm sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&wm))
	current := wm.GetCurrentDetails()
	require.True(t, strings.HasPrefix(current, "**CANCELLED**: settled, cancelled and never sent"), current)
	require.Contains(t, current, "last error: "+note)
}
