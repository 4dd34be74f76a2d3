package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
)

// transition enters status: a new revision, the search attributes and a
// mirror write. The mirror write is not waited for; revisions keep the row
// from moving backwards when writes land out of order.
func (r *messageRun) transition(ctx workflow.Context, status models.Status) {
	r.transitionCreate(ctx, status, nil)
}

func (r *messageRun) transitionCreate(ctx workflow.Context, status models.Status, create *models.Message) {
	r.st.Status = status
	r.st.Revision++
	// SENDING normally lasts only as long as the local publish, inside this
	// workflow task, and DELIVERED follows: upserting it would cost a history
	// event and a visibility write for a status nobody can see, and writing
	// it to the mirror a database write and a history event. Both catch up
	// when the publish outlasts the local try (see sendingOutlasted).
	passing := status == models.StatusSending
	if !passing {
		r.upsertStatus(ctx)
	}
	if create != nil {
		create.Status = status
	}
	r.showDetails(ctx)
	if passing && create == nil {
		return
	}
	r.writeMirror(ctx, create)
}

// writeMirror writes the current state to the mirror (with create, the row
// itself). The write is not waited for. It starts when the message's
// previous write has finished: a transition never races the creation of its
// row, and writes of one row do not contend.
func (r *messageRun) writeMirror(ctx workflow.Context, create *models.Message) {
	in := activities.MirrorInput{Create: create, Transition: r.transitionRow(ctx)}
	retry := &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
		MaximumAttempts:    0, // the database comes back; the row must follow
	}
	r.pruneMirror()
	r.mirrored = r.st.Status
	prev := r.lastMirror
	if prev == nil || prev.IsReady() {
		r.lastMirror = r.execute(ctx, "mirror: "+string(r.st.Status), mirrorTimeout, retry, acts.WriteMirror, in)
	} else {
		f, set := workflow.NewFuture(ctx)
		workflow.Go(ctx, func(gctx workflow.Context) {
			_ = prev.Get(gctx, nil) // its error is flushMirror's to report
			set.Chain(r.execute(gctx, "mirror: "+string(in.Transition.Status), mirrorTimeout, retry, acts.WriteMirror, in))
		})
		r.lastMirror = f
	}
	r.mirror = append(r.mirror, r.lastMirror)
}

// sendingOutlasted runs when a local try has failed and its work goes on as
// a regular activity: a SENDING that was to pass unseen now lasts, so the
// search attribute and the mirror catch up with it.
func (r *messageRun) sendingOutlasted(ctx workflow.Context) {
	r.upsertStatus(ctx)
	if r.mirrored != r.st.Status {
		r.writeMirror(ctx, nil)
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

// pruneMirror forgets mirror writes that have finished.
func (r *messageRun) pruneMirror() {
	r.mirror = slices.DeleteFunc(r.mirror, func(f workflow.Future) bool { return f.IsReady() })
}

// transitionRow is the mirror update for the current state.
func (r *messageRun) transitionRow(ctx workflow.Context) models.Transition {
	return models.Transition{
		ID:          r.msg.ID,
		Revision:    r.mirrorRevision(ctx),
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

// mirrorRevision orders the mirror writes of this workflow.
//
// A local activity writes before its workflow task is committed. When the
// task is lost (its worker killed), the task that replaces it starts from
// the last committed state with what has arrived since, and its transitions
// can differ from the lost ones under the same counter: the lost task may
// have written DELIVERED as revision 3 where the committed one has COMPLETED.
// So the revision leads with the history length at the start of the
// workflow task, which is larger in any task that replaces a lost one the
// server had recorded, and the transition counter orders writes within it.
// A task the server had not recorded (a retried or an update's task lost in
// a crash of the server) is replaced at the same length; the mirror orders
// those two by the transition's time (models.RevisionTaskShift). The history
// stays far below 2^20 events, the counter below 2^20.
func (r *messageRun) mirrorRevision(ctx workflow.Context) int64 {
	return int64(workflow.GetInfo(ctx).GetCurrentHistoryLength())<<models.RevisionTaskShift + r.st.Revision
}

// row is the full mirror row written when the message is first seen.
func (r *messageRun) row() models.Message {
	return models.Message{
		ID:        r.msg.ID,
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
