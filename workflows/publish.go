package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
)

// waitForDeliverAt holds a confirmed message until its deliver_at time.
func (r *messageRun) waitForDeliverAt(ctx workflow.Context) {
	if r.sleep(ctx, r.msg.DeliverAt.Sub(workflow.Now(ctx))) {
		r.startSend(ctx, "deliver_at reached")
	}
}

// startSend counts a new send and enters SENDING, for why; publish does the
// send.
func (r *messageRun) startSend(ctx workflow.Context, why string) {
	r.st.SendCount++
	r.transition(ctx, wire.StatusSending, why)
}

// publish sends the message to Kafka. Transient broker errors are retried by
// the activity's retry policy without limit; a permanent rejection makes the
// message DEAD with the reason.
func (r *messageRun) publish(ctx workflow.Context) {
	in := activities.PublishInput{
		MessageID: r.msg.ID,
		Topic:     r.msg.Topic,
		Key:       r.msg.Key,
		Payload:   r.msg.Payload,
		Headers:   r.msg.Headers,
		Producer:  r.msg.Producer,
		Attempt:   r.st.SendCount,
		Trace:     r.phase.Child(),
	}
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: publishTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        r.policy.PublishMaxInterval,
			MaximumAttempts:        0, // until the broker accepts it
			NonRetryableErrorTypes: []string{activities.ErrTypePublishRejected},
		},
		Summary: fmt.Sprintf("publish to %s, send %d", r.msg.Topic, in.Attempt),
	}
	var res activities.PublishResult
	done, err := r.awaitFuture(ctx, ctx, func(c workflow.Context) workflow.Future {
		return localFirst(c, opts, r.catchUp, acts.Publish, in)
	}, &res)
	if !done {
		return // completed by its consumers while the publish was in flight
	}
	rec := contract.PublishRecord{Attempt: in.Attempt, At: workflow.Now(ctx), Partition: res.Partition, Offset: res.Offset}
	if err != nil {
		rec.Error = errorMessage(err)
		r.st.Publishes = append(r.st.Publishes, rec)
		if !rejected(err) {
			// The retry policy itself ended (a timeout or a cancelled
			// activity): not Kafka's verdict on the message, so try again.
			r.fail(fmt.Sprintf("publish %d: %s", in.Attempt, rec.Error))
			r.sleep(ctx, r.policy.PublishMaxInterval)
			return
		}
		r.fail(fmt.Sprintf("publish %d rejected: %s", in.Attempt, rec.Error))
		r.transition(ctx, wire.StatusDead, r.st.LastError)
		return
	}
	r.st.Publishes = append(r.st.Publishes, rec)
	r.st.PublishedAt = &rec.At
	r.clearError()
	r.transition(ctx, wire.StatusDelivered, fmt.Sprintf("publish %d accepted: partition %d, offset %d", in.Attempt, res.Partition, res.Offset))
	r.completeEarly(ctx)
}

// publishTimeout bounds one publish attempt; sarama's own retries fit inside.
const publishTimeout = 30 * time.Second

// rejected reports whether a publish failed because Kafka refused the message
// for good, as classified by the publish activity.
func rejected(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == activities.ErrTypePublishRejected
}

// errorMessage is the operator-facing text of an activity failure: the
// application error's own message rather than the SDK's wrapping.
func errorMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Error()
	}
	return err.Error()
}
