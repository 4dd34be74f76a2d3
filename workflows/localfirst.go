package workflows

import (
	"errors"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// localFirst runs activity as a local activity for up to localWindow, and
// when that fails with an error worth retrying, calls fallback and hands the
// activity to a regular one with opts. The returned future is the one that
// ends last. Publishes and mirror writes run so, shown in the Web UI as
// opts.Summary, with catchUp as their fallback.
//
// A local activity runs on the worker that holds the workflow and is recorded
// as one marker event in the workflow task that asked for it. A regular one
// costs three events and a workflow task of its own when it ends, which is
// where most of a message's history and latency went. But a local activity
// holds its workflow task open while it retries, so signals wait, and each
// retry past the task's timeout adds a timer and a task to the history. So
// the local try is short, and an outage of the database or the broker is
// waited out by a regular activity, whose retries the server keeps out of
// the history, however long they go on.
func localFirst(ctx workflow.Context, opts workflow.ActivityOptions, fallback func(workflow.Context), activity any, in any) workflow.Future {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: localWindow,
		StartToCloseTimeout:    min(opts.StartToCloseTimeout, localWindow),
		RetryPolicy:            opts.RetryPolicy,
		Summary:                opts.Summary,
	})
	local := workflow.ExecuteLocalActivity(lctx, activity, in)
	f, set := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(gctx workflow.Context) {
		err := local.Get(gctx, nil)
		if err == nil || gctx.Err() != nil || !retryable(err, opts.RetryPolicy) {
			set.Chain(local)
			return
		}
		workflow.GetLogger(gctx).Warn("local activity failed, continuing as a regular activity", "error", err)
		fallback(gctx)
		set.Chain(workflow.ExecuteActivity(workflow.WithActivityOptions(gctx, opts), activity, in))
	})
	return f
}

// localWindow bounds the local try of a mirror write or publish, retries
// included; with the retry policies' first backoff of a second that is two
// attempts at most. The workflow task waits for its local activities, and with it
// the answer to an update (a confirm waits for its publish), so a broker or
// database outage may hold the task only briefly: the gateway waits 3 s for
// an update's answer.
const localWindow = time.Second

// retryable reports whether a failed activity may succeed when tried again
// under retry: not when it was cancelled or failed for good.
func retryable(err error, retry *temporal.RetryPolicy) bool {
	if temporal.IsCanceledError(err) {
		return false
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && (appErr.NonRetryable() || slices.Contains(retry.NonRetryableErrorTypes, appErr.Type())) {
		return false
	}
	return true
}
