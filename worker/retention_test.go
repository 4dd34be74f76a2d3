package worker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/internal/teststack"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/worker"
	"github.com/courier-mq/courier/workflows"
)

// TestRetentionDeletesSettledRows runs the retention workflow on a real
// server and worker over a mirror holding old and new rows of every status.
func TestRetentionDeletesSettledRows(t *testing.T) {
	st := teststack.New(t, teststack.Config{})
	ctx := t.Context()
	now := time.Now()
	kept := map[string]bool{}
	row := func(id string, status wire.Status, settled time.Time, keep bool) {
		m := &models.Message{ID: id, Topic: "orders", Payload: []byte(`{}`), Status: status,
			CreatedAt: settled.Add(-time.Minute), UpdatedAt: settled, Revision: 1}
		_, err := st.Store.Insert(ctx, m)
		require.NoError(t, err)
		kept[id] = keep
	}
	for i := range 5 {
		row(fmt.Sprintf("old-completed-%d", i), wire.StatusCompleted, now.Add(-48*time.Hour), false)
		row(fmt.Sprintf("old-cancelled-%d", i), wire.StatusCancelled, now.Add(-48*time.Hour), false)
	}
	row("new-completed", wire.StatusCompleted, now.Add(-time.Hour), true)
	row("old-dead", wire.StatusDead, now.Add(-48*time.Hour), true)
	row("old-exhausted", wire.StatusCheckExhausted, now.Add(-48*time.Hour), true)
	row("old-delivered", wire.StatusDelivered, now.Add(-48*time.Hour), true)

	run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: contract.TaskQueue},
		contract.RetentionWorkflowType, workflows.RetentionInput{Keep: 24 * time.Hour, Batch: 3})
	require.NoError(t, err)
	var res activities.PurgeResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, activities.PurgeResult{Deleted: 10, Done: true}, res)
	for id, keep := range kept {
		_, err := st.Store.Get(ctx, id)
		if keep {
			require.NoError(t, err, id)
		} else {
			require.ErrorIs(t, err, models.ErrNotFound, id)
		}
	}
}

// TestEnsureRetention creates the schedule, updates it to a new retention,
// and deletes it when retention is off.
func TestEnsureRetention(t *testing.T) {
	st := teststack.New(t, teststack.Config{})
	ctx := t.Context()
	keepOf := func() time.Duration {
		d, err := st.Client.ScheduleClient().GetHandle(ctx, contract.RetentionScheduleID).Describe(ctx)
		require.NoError(t, err)
		require.Equal(t, time.Hour, d.Schedule.Spec.Intervals[0].Every)
		action := d.Schedule.Action.(*client.ScheduleWorkflowAction)
		require.Equal(t, contract.RetentionWorkflowType, action.Workflow)
		require.Equal(t, contract.TaskQueue, action.TaskQueue)
		var in workflows.RetentionInput
		require.NoError(t, converter.GetDefaultDataConverter().FromPayload(action.Args[0].(*commonpb.Payload), &in))
		return in.Keep
	}
	// The test stack's worker has already made it, with the default.
	require.Eventually(t, func() bool {
		_, err := st.Client.ScheduleClient().GetHandle(ctx, contract.RetentionScheduleID).Describe(ctx)
		return err == nil
	}, 10*time.Second, 100*time.Millisecond)
	require.Equal(t, worker.DefaultMirrorRetention, keepOf())

	require.NoError(t, worker.EnsureRetention(ctx, st.Client, contract.TaskQueue, 90*24*time.Hour))
	require.Equal(t, 90*24*time.Hour, keepOf())

	require.NoError(t, worker.EnsureRetention(ctx, st.Client, contract.TaskQueue, -1))
	_, err := st.Client.ScheduleClient().GetHandle(ctx, contract.RetentionScheduleID).Describe(ctx)
	var notFound *serviceerror.NotFound
	require.ErrorAs(t, err, &notFound)
	require.NoError(t, worker.EnsureRetention(ctx, st.Client, contract.TaskQueue, -1), "off twice is still off")
}
