package workflows

// What the world outside the workflow sees of a message: its mirror row,
// its status search attribute and what the Temporal Web UI shows. A
// transition updates all three.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
)

// transition enters status, for why: a new revision, a transition record
// (state.go), the search attribute, the Web UI's details and a mirror
// write, which is not waited for.
//
// SENDING normally lasts only as long as the local publish, inside this
// workflow task, and DELIVERED follows: upserting it would cost a history
// event and a visibility write for a status nobody can see, and writing it to
// the mirror a database write and a history event. Both catch up when a local
// try fails (see catchUp). The first write is made all the same: it creates
// the row, as SENDING for a direct send.
func (r *messageRun) transition(ctx workflow.Context, status wire.Status, why string) {
	from := r.st.Status
	r.recordTransition(ctx, status, why)
	r.st.Status = status
	r.st.Revision++
	r.tracePhase(ctx, from, status)
	passing := status == wire.StatusSending
	if !passing {
		r.upsertStatus(ctx)
	}
	r.showDetails(ctx)
	if passing && r.lastMirror != nil {
		return
	}
	r.writeMirror(ctx)
}

// writeMirror writes the current state to the mirror; the message's first
// write creates the row. The write is not waited for. It starts when the
// message's previous write has finished: a transition never races the
// creation of its row, and writes of one row do not contend.
func (r *messageRun) writeMirror(ctx workflow.Context) {
	in := activities.MirrorInput{Transition: r.transitionRow(ctx)}
	if r.lastMirror == nil {
		row := r.row()
		in.Create = &row
	}
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: mirrorTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    0, // the database comes back; the row must follow
		},
		Summary: "mirror: " + string(r.st.Status),
	}
	// Forget the writes that have finished; flushMirror waits for the rest.
	r.mirror = slices.DeleteFunc(r.mirror, func(f workflow.Future) bool { return f.IsReady() })
	r.mirrored = r.st.Status
	// A mirror write's local try failing outlasts the workflow task as a
	// publish's does, so its fallback is catchUp too. That writes only a
	// status not written yet, never the one it falls back from.
	prev := r.lastMirror
	if prev == nil || prev.IsReady() {
		r.lastMirror = localFirst(ctx, opts, r.catchUp, acts.WriteMirror, in)
	} else {
		f, set := workflow.NewFuture(ctx)
		workflow.Go(ctx, func(gctx workflow.Context) {
			_ = prev.Get(gctx, nil) // its error is flushMirror's to report
			set.Chain(localFirst(gctx, opts, r.catchUp, acts.WriteMirror, in))
		})
		r.lastMirror = f
	}
	r.mirror = append(r.mirror, r.lastMirror)
}

// catchUp is the fallback of every local try, a publish's or a mirror
// write's (see localFirst). When one fails, its work goes on as a regular
// activity and the workflow task ends without its answer, so a status that
// was to pass unseen within the task (SENDING, see transition) lasts: the
// search attribute and the mirror catch up with it. It runs on a context of
// its own: a publish's try runs on the publish's, which ends with the
// publish, and the mirror write it starts must not.
func (r *messageRun) catchUp(ctx workflow.Context) {
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	r.upsertStatus(ctx)
	if r.mirrored != r.st.Status {
		r.writeMirror(ctx)
	}
}

// upsertStatus sets the CourierStatus search attribute to the current status
// when it differs.
func (r *messageRun) upsertStatus(ctx workflow.Context) {
	if r.st.Status == r.saStatus {
		return
	}
	err := workflow.UpsertTypedSearchAttributes(ctx,
		contract.SearchAttrStatus.ValueSet(string(r.st.Status)),
		contract.SearchAttrTopic.ValueSet(r.msg.Topic),
	)
	if err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes", "error", err)
		return
	}
	r.saStatus = r.st.Status
}

// flushMirror waits for every mirror write: the row must show the final state
// before the workflow closes, because activities of a closed workflow are
// never retried.
func (r *messageRun) flushMirror(ctx workflow.Context) error {
	for _, f := range r.mirror {
		if err := f.Get(ctx, nil); err != nil {
			return fmt.Errorf("mirror write for %s: %w", r.msg.ID, err)
		}
	}
	r.mirror = nil
	return nil
}

// transitionRow is the mirror update for the current state.
//
// Its revision orders the mirror writes of this workflow. A local activity
// writes before its workflow task is committed. When the task is lost (its
// worker killed), the task that replaces it starts from the last committed
// state with what has arrived since, and its transitions can differ from the
// lost ones under the same counter: the lost task may have written DELIVERED
// as revision 3 where the committed one has COMPLETED. So the revision leads
// with the history length at the start of the workflow task, which is larger
// in any task that replaces a lost one the server had recorded, and the
// transition counter orders writes within it. A task the server had not
// recorded (a retried or an update's task lost in a crash of the server) is
// replaced at the same length; the mirror orders those two by the
// transition's time (models.RevisionTaskShift). The history stays far below
// 2^20 events, the counter below 2^20.
func (r *messageRun) transitionRow(ctx workflow.Context) models.Transition {
	return models.Transition{
		ID:          r.msg.ID,
		Revision:    int64(workflow.GetInfo(ctx).GetCurrentHistoryLength())<<models.RevisionTaskShift + r.st.Revision,
		Status:      r.st.Status,
		CheckCount:  r.st.CheckCount,
		SendCount:   r.st.SendCount,
		LastError:   r.st.LastError,
		ConfirmedAt: r.st.ConfirmedAt,
		PublishedAt: r.st.PublishedAt,
		CompletedAt: r.st.CompletedAt,
		UpdatedAt:   workflow.Now(ctx),
	}
}

// row is the full mirror row written when the message is first seen.
func (r *messageRun) row() models.Message {
	return models.Message{
		ID:        r.msg.ID,
		Status:    r.st.Status,
		Topic:     r.msg.Topic,
		Key:       r.msg.Key,
		Payload:   r.msg.Payload,
		Headers:   r.msg.Headers,
		Producer:  r.msg.Producer,
		CheckURL:  r.msg.CheckURL,
		Consumers: r.msg.Consumers,
		DeliverAt: r.msg.DeliverAt,
		CreatedAt: r.st.CreatedAt,
		UpdatedAt: r.st.CreatedAt,
	}
}

// mirrorTimeout bounds one mirror write attempt.
const mirrorTimeout = 30 * time.Second

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
	case wire.StatusCompleted:
		b.WriteString(": settled, its consumers completed it")
	case wire.StatusCancelled:
		b.WriteString(": settled, cancelled and never sent")
	}
	if n := len(r.st.EarlyCompletions); n > 0 {
		b.WriteString(fmt.Sprintf("\n\n%d completion(s) came before the publish, held until it succeeds", n))
	}
	if r.st.NextAt != nil {
		b.WriteString(fmt.Sprintf("\n\nacts next at %s: %s", r.st.NextAt.UTC().Format(time.RFC3339), r.st.Next))
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
