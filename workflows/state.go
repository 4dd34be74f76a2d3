package workflows

// What the message's State says of its story beyond counts: each status
// change and why, what the workflow does next, and its last error, which
// names an operator's action once one settles it. All of it lives in the
// workflow's memory and issues no command, so it is rebuilt on replay and
// shown alike for messages started by earlier code versions.

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
)

// recordTransition keeps the move from the current status to status, for
// why, in State.Transitions. Re-entering the same status (another
// unanswered check-back) is no change and is not kept.
func (r *messageRun) recordTransition(ctx workflow.Context, status wire.Status, why string) {
	if r.st.Status == status {
		return
	}
	if len(r.st.Transitions) >= contract.MaxTransitionRecords {
		r.st.Transitions = slices.Delete(r.st.Transitions, 0, 1)
		r.st.TransitionsDropped++
	}
	r.st.Transitions = append(r.st.Transitions, contract.TransitionRecord{
		At: workflow.Now(ctx), From: r.st.Status, To: status, Why: why,
	})
}

// nextAction is what the workflow does when the wait it starts in the
// current status ends (State.Next).
func (r *messageRun) nextAction() string {
	switch r.st.Status {
	case wire.StatusWaitingConfirm:
		return fmt.Sprintf("check-back %d of %d", r.st.CheckCount+1, r.policy.CheckMaxAttempts)
	case wire.StatusScheduled:
		return fmt.Sprintf("send %d", r.st.SendCount+1)
	case wire.StatusDelivered:
		if n := len(r.policy.ResendIntervals); r.st.SendCount < n {
			return fmt.Sprintf("resend %d of %d", r.st.SendCount+1, n)
		}
		return "DEAD (no sends left)"
	case wire.StatusSending:
		return fmt.Sprintf("publish again (send %d)", r.st.SendCount)
	}
	return ""
}

// fail sets the last error. An operator's note it replaces is gone.
func (r *messageRun) fail(msg string) {
	r.note = ""
	r.st.LastError = msg
}

// clearError clears the last error once what it was about is settled: to
// the operator's note when an operator settled it, else to nothing.
func (r *messageRun) clearError() {
	r.st.LastError = r.note
}

// actionText says what an applied signal or update did and who asked, for
// a transition's why and an operator's note: `cancelled by operator alice:
// "duplicate order"`.
func actionText(name string, d contract.Decision, comp contract.Completion) string {
	s := name
	switch name {
	case contract.SignalConfirm:
		s = "confirmed"
	case contract.SignalCancel:
		s = "cancelled"
	case contract.SignalComplete:
		s = "completed"
	case contract.SignalRedrive:
		s = "re-driven"
	}
	switch {
	case d.Operator && d.By != "":
		s += " by operator " + d.By
	case d.Operator:
		s += " by an operator"
	case d.By != "":
		s += " by " + d.By
	}
	if comp.Consumer != "" {
		s += " by consumer " + comp.Consumer
	}
	if d.Reason != "" {
		s += fmt.Sprintf(": %q", d.Reason)
	}
	return s
}
