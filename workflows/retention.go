package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/activities"
)

// RetentionInput is one run of the mirror's retention.
type RetentionInput struct {
	// Keep is how long a settled (COMPLETED or CANCELLED) message stays in
	// the mirror after it settled.
	Keep time.Duration `json:"keep"`
	// Batch is how many rows one delete statement removes.
	Batch int `json:"batch"`
}

// Bounds of one retention run: it stops after maxPurgeRows (the next run
// goes on), pausing between batches so that mirror writes get the database.
const (
	maxPurgeRows   = 2_000_000
	purgePause     = 20 * time.Millisecond
	purgeRunLength = time.Hour
)

// RetentionWorkflow deletes from the mirror the messages that settled more
// than in.Keep ago. A Temporal Schedule starts it (worker.EnsureRetention);
// the workflow of a message has closed long before its row goes, and
// DEAD, CHECK_EXHAUSTED and open messages are never deleted.
func RetentionWorkflow(ctx workflow.Context, in RetentionInput) (activities.PurgeResult, error) {
	before := workflow.Now(ctx).Add(-in.Keep)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: purgeRunLength,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, MaximumAttempts: 3},
		Summary:             fmt.Sprintf("delete messages settled before %s", before.UTC().Format(time.RFC3339)),
	})
	var res activities.PurgeResult
	err := workflow.ExecuteActivity(ctx, acts.PurgeMirror, activities.PurgeInput{
		Before: before, Batch: in.Batch, Pause: purgePause, MaxRows: maxPurgeRows,
	}).Get(ctx, &res)
	return res, err
}
