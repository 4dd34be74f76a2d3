package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// Purger deletes settled messages from the mirror; *store.Store satisfies
// it.
type Purger interface {
	// PurgeSettled deletes up to batch messages settled before t and
	// returns how many.
	PurgeSettled(ctx context.Context, t time.Time, batch int) (int64, error)
}

// PurgeInput is one retention run.
type PurgeInput struct {
	// Before: messages that settled earlier are deleted.
	Before time.Time `json:"before"`
	// Batch is how many rows one statement deletes.
	Batch int `json:"batch"`
	// Pause is the wait between batches, which leaves the database to the
	// mirror writes.
	Pause time.Duration `json:"pause"`
	// MaxRows ends the run after about this many rows; the next run goes
	// on.
	MaxRows int64 `json:"max_rows"`
}

// PurgeResult is what a retention run deleted. Done is false when it
// stopped at MaxRows with more to delete.
type PurgeResult struct {
	Deleted int64 `json:"deleted"`
	Done    bool  `json:"done"`
}

// PurgeMirror deletes the messages that settled before in.Before, a batch at
// a time, heartbeating its progress after each.
func (a *Activities) PurgeMirror(ctx context.Context, in PurgeInput) (PurgeResult, error) {
	if a.Purger == nil {
		return PurgeResult{}, temporal.NewNonRetryableApplicationError("this worker has no mirror to purge", "NoPurger", nil)
	}
	if in.Batch < 1 {
		return PurgeResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("batch must be 1 or more, got %d", in.Batch), "BadPurgeInput", nil)
	}
	var res PurgeResult
	for {
		n, err := a.Purger.PurgeSettled(ctx, in.Before, in.Batch)
		res.Deleted += n
		if n > 0 && a.Purged != nil {
			a.Purged(n)
		}
		if err != nil {
			return res, fmt.Errorf("purge messages settled before %s, %d deleted so far: %w", in.Before.Format(time.RFC3339), res.Deleted, err)
		}
		activity.RecordHeartbeat(ctx, res.Deleted)
		if n < int64(in.Batch) {
			res.Done = true
			return res, nil
		}
		if in.MaxRows > 0 && res.Deleted >= in.MaxRows {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(in.Pause):
		}
	}
}
