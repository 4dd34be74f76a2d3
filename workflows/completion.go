package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
)

// awaitCompletion waits for the consumers' complete signals after a send. When
// the wait for this send passes, the message is sent again, or after the last
// interval it is DEAD.
func (r *messageRun) awaitCompletion(ctx workflow.Context) {
	intervals := r.policy.ResendIntervals
	i := min(max(r.st.SendCount, 1), len(intervals)) - 1
	if !r.sleep(ctx, intervals[i]) {
		return
	}
	if r.st.SendCount < len(intervals) {
		r.startSend(ctx, fmt.Sprintf("send %d not completed within %s", r.st.SendCount, intervals[i]))
		return
	}
	msg := fmt.Sprintf("not completed after %d sends", r.st.SendCount)
	if missing := r.missingConsumers(); len(missing) > 0 {
		msg += fmt.Sprintf("; waiting for %v", missing)
	}
	r.fail(msg)
	r.transition(ctx, wire.StatusDead, msg+": no sends left")
}

// missingConsumers are the named consumers that have not completed yet.
func (r *messageRun) missingConsumers() []string {
	var missing []string
	for _, c := range r.msg.Consumers {
		if !slices.Contains(r.st.CompletedBy, c) {
			missing = append(missing, c)
		}
	}
	return missing
}

// complete records a consumer's completion, described by why; the message
// is COMPLETED when every named consumer (or, with none named, anyone) has
// completed.
func (r *messageRun) complete(ctx workflow.Context, consumer, why string) {
	if len(r.msg.Consumers) > 0 {
		r.st.CompletedBy = append(r.st.CompletedBy, consumer)
		if len(r.missingConsumers()) > 0 {
			r.showDetails(ctx)
			return
		}
	} else if consumer != "" {
		r.st.CompletedBy = append(r.st.CompletedBy, consumer)
	}
	// A completion still held is moot once the message is complete.
	r.st.EarlyCompletions = nil
	now := workflow.Now(ctx)
	r.st.CompletedAt = &now
	if r.st.PublishedAt == nil {
		// Completed while the publish's answer was still on its way: the
		// consumer had the message, so it was published by now at the latest.
		r.st.PublishedAt = &now
	}
	r.clearError()
	r.transition(ctx, wire.StatusCompleted, why)
}

// completeEarly applies the completions held while the message was not
// sent, now that its publish has succeeded: each as the complete it was, so
// an early completion ends the message right after its publish and never
// instead of it.
func (r *messageRun) completeEarly(ctx workflow.Context) {
	held := r.st.EarlyCompletions
	r.st.EarlyCompletions = nil
	for _, e := range held {
		r.apply(ctx, contract.SignalComplete, contract.Decision{Reason: "held since " + e.At.UTC().Format(time.RFC3339)}, contract.Completion{Consumer: e.Consumer})
	}
}
