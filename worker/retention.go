package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/workflows"
)

// Retention of the mirror: how often it runs and how much it deletes at a
// time.
const (
	DefaultMirrorRetention = 30 * 24 * time.Hour
	retentionEvery         = time.Hour
	retentionBatch         = 1000
)

// EnsureRetention makes the Temporal Schedule that runs the mirror's
// retention every hour on taskQueue, deleting messages settled more than
// keep ago, or updates it to keep; keep 0 or less deletes the schedule (the
// mirror then keeps everything). Every worker calls it at start: the schedule is
// one per namespace, and the last worker started sets it.
func EnsureRetention(ctx context.Context, c client.Client, taskQueue string, keep time.Duration) error {
	sc := c.ScheduleClient()
	if keep <= 0 {
		err := sc.GetHandle(ctx, contract.RetentionScheduleID).Delete(ctx)
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			return fmt.Errorf("delete the retention schedule: %w", err)
		}
		return nil
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: retentionEvery}}}
	action := &client.ScheduleWorkflowAction{
		ID:        contract.RetentionScheduleID,
		Workflow:  contract.RetentionWorkflowType,
		Args:      []any{workflows.RetentionInput{Keep: keep, Batch: retentionBatch}},
		TaskQueue: taskQueue,
	}
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID:      contract.RetentionScheduleID,
		Spec:    spec,
		Action:  action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Memo:    map[string]any{"courier": "deletes mirror rows of messages settled longer ago than their retention"},
	})
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		if err != nil {
			return fmt.Errorf("create the retention schedule: %w", err)
		}
		return nil
	}
	err = sc.GetHandle(ctx, contract.RetentionScheduleID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec, s.Action = &spec, action
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update the retention schedule: %w", err)
	}
	return nil
}
