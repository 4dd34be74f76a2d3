package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
)

// waitForDecision waits for confirm or cancel; when neither comes in time it
// asks the producer, on the check-back schedule, until it has an answer or the
// allowed checks are used up.
func (r *messageRun) waitForDecision(ctx workflow.Context) {
	if !r.sleep(ctx, r.policy.CheckWait(r.st.CheckCount+1)) {
		return
	}
	r.st.CheckCount++
	in := activities.CheckInput{
		MessageID: r.msg.ID,
		Topic:     r.msg.Topic,
		Key:       r.msg.Key,
		Producer:  r.msg.Producer,
		URL:       r.msg.CheckURL,
		Attempt:   r.st.CheckCount,
		Trace:     r.phase.Child(),
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: r.policy.CheckTimeout,
		// The check-back schedule is the retry policy: a failed call is an
		// unanswered check, and the next one comes at its scheduled time.
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
		Summary:     fmt.Sprintf("check-back %d of %d", in.Attempt, r.policy.CheckMaxAttempts),
	})
	var res activities.CheckResult
	done, err := r.awaitFuture(ctx, actx, func(c workflow.Context) workflow.Future {
		return workflow.ExecuteActivity(c, acts.CheckBack, in)
	}, &res)
	if !done {
		return // a signal decided while the producer was being asked
	}
	if err != nil {
		res = activities.CheckResult{Answer: models.CheckUnknown, Detail: err.Error()}
	}
	r.st.Checks = append(r.st.Checks, contract.CheckRecord{
		Attempt: in.Attempt, At: workflow.Now(ctx), Answer: res.Answer, Detail: res.Detail,
	})
	answered := fmt.Sprintf("check-back %d of %d answered %s", in.Attempt, r.policy.CheckMaxAttempts, res.Answer)
	switch res.Answer {
	case models.CheckCommitted:
		r.record(ctx, contract.SignalRecord{Name: contract.SignalConfirm, By: "check-back", Outcome: wire.Applied})
		r.transition(ctx, r.confirmed(ctx), answered)
	case models.CheckRolledBack:
		r.record(ctx, contract.SignalRecord{Name: contract.SignalCancel, By: "check-back", Outcome: wire.Applied})
		r.cancel(ctx, answered)
	default:
		r.fail(fmt.Sprintf("check-back %d: %s %s", in.Attempt, res.Answer, res.Detail))
		if r.st.CheckCount >= r.policy.CheckMaxAttempts {
			r.transition(ctx, wire.StatusCheckExhausted, answered+": no check-backs left")
		} else {
			r.transition(ctx, wire.StatusWaitingConfirm, "")
		}
	}
}

// confirmed records the confirmation and returns the status it leads to
// (SENDING, or SCHEDULED until deliver_at), for the caller to enter.
func (r *messageRun) confirmed(ctx workflow.Context) wire.Status {
	now := workflow.Now(ctx)
	r.st.ConfirmedAt = &now
	r.clearError()
	status := contract.ConfirmedStatus(r.msg.DeliverAt, now)
	if status == wire.StatusSending {
		r.st.SendCount++
	}
	return status
}

// cancel ends the message unsent, for why, dropping the completions held
// for it. The decision settles what the last error was about.
func (r *messageRun) cancel(ctx workflow.Context, why string) {
	r.clearError()
	for _, e := range r.st.EarlyCompletions {
		r.record(ctx, contract.SignalRecord{Name: contract.SignalComplete, Consumer: e.Consumer, Outcome: wire.Rejected,
			Reason: "held since " + e.At.UTC().Format(time.RFC3339) + ", dropped: message was cancelled"})
	}
	r.st.EarlyCompletions = nil
	r.transition(ctx, wire.StatusCancelled, why)
}
