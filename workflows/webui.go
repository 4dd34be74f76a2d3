package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/client/wire"
)

// What the Temporal Web UI shows of a message, so that a workflow reads as
// the message's story: a summary and details fixed at start, current details
// kept up to date, and a summary on every activity and timer. None of it is
// a command argument that replay compares, so it may change between code
// versions.

// showDetails sets the workflow's current details: status, counts, what it
// waits for and until when.
func (r *messageRun) showDetails(ctx workflow.Context) {
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**%s**", r.st.Status))
	switch r.st.Status {
	case wire.StatusWaitingConfirm:
		b.WriteString(fmt.Sprintf(": waiting for confirm or cancel; %d of %d check-backs made", r.st.CheckCount, r.policy.CheckMaxAttempts))
	case wire.StatusCheckExhausted:
		b.WriteString(": the producer never answered; an operator confirms or cancels")
	case wire.StatusDelivered:
		b.WriteString(fmt.Sprintf(": sent %d of %d times, waiting for completion", r.st.SendCount, len(r.policy.ResendIntervals)))
		if missing := r.missingConsumers(); len(r.msg.Consumers) > 0 {
			b.WriteString(fmt.Sprintf(" by %s", strings.Join(missing, ", ")))
		}
	case wire.StatusDead:
		b.WriteString(": an operator re-drives it")
	case wire.StatusSending:
		b.WriteString(fmt.Sprintf(": publishing, send %d", r.st.SendCount))
	}
	if n := len(r.st.EarlyCompletions); n > 0 {
		b.WriteString(fmt.Sprintf("\n\n%d completion(s) came before the publish, held until it succeeds", n))
	}
	if r.st.NextAt != nil {
		b.WriteString(fmt.Sprintf("\n\nacts next at %s", r.st.NextAt.UTC().Format(time.RFC3339)))
	}
	if r.st.LastError != "" {
		b.WriteString(fmt.Sprintf("\n\nlast error: %s", r.st.LastError))
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

// waitSummary names the timer of a wait in status after sends and checks.
func (r *messageRun) waitSummary(at time.Time) string {
	when := at.UTC().Format(time.RFC3339)
	switch r.st.Status {
	case wire.StatusWaitingConfirm:
		return fmt.Sprintf("check-back %d of %d at %s", r.st.CheckCount+1, r.policy.CheckMaxAttempts, when)
	case wire.StatusScheduled:
		return "deliver at " + when
	case wire.StatusDelivered:
		return fmt.Sprintf("wait for completion of send %d until %s", r.st.SendCount, when)
	case wire.StatusSending:
		return "publish again at " + when
	}
	return "wait until " + when
}
