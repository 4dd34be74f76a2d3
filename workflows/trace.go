package workflows

import (
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/tracing"
)

// phaseNames are the span names of the lifecycle's phases, as a reader of
// the trace asks "where did my message spend its time": waiting for the
// producer's decision, publishing, waiting for the consumers. Other statuses
// are named by their lowercase status.
var phaseNames = map[wire.Status]string{
	wire.StatusWaitingConfirm: "wait for confirm",
	wire.StatusScheduled:      "wait for deliver_at",
	wire.StatusSending:        "publish",
	wire.StatusDelivered:      "wait for completion",
}

func phaseName(s wire.Status) string {
	if name, ok := phaseNames[s]; ok {
		return name
	}
	return strings.ToLower(string(s))
}

// tracePhase ends the span of the phase the message leaves (from) and begins
// the one of the status it enters (to); a terminal status is a span of no
// length. It is called by transition, after the revision counted the change,
// so a phase's span ID (tracing.Phase) follows from the history alone: the
// same on every replay and after a worker restart. Spans are written only
// where the workflow is not replaying, so each is written once; a workflow
// task that a crashed worker ran but never completed runs again on the next
// worker, which may write its spans a second time. Nothing here is a
// command: tracing adds no event to the history (the check-back's and the
// publish's inputs carry Phase.Child, which replay does not compare), and
// needs no workflow version.
func (r *messageRun) tracePhase(ctx workflow.Context, from, to wire.Status) {
	if len(r.trace) == 0 || from == to {
		return
	}
	now := workflow.Now(ctx)
	writing := !workflow.IsReplaying(ctx)
	if from != "" && writing {
		r.phase.End(now, r.phaseAttrs(from)...)
	}
	info := workflow.GetInfo(ctx)
	r.phase = tracing.Phase{
		Parent: r.trace,
		Name:   phaseName(to),
		Key:    fmt.Sprintf("%s/%s/%d", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, r.st.Revision),
		Start:  now,
	}
	if to.Terminal() && writing {
		r.phase.End(now, r.phaseAttrs(to)...)
	}
}

// phaseAttrs describe the message as a phase in status ends.
func (r *messageRun) phaseAttrs(status wire.Status) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		attribute.String("courier.message.id", r.msg.ID),
		attribute.String("courier.status", string(status)),
		attribute.String("messaging.destination.name", r.msg.Topic),
		attribute.Int("courier.check_count", r.st.CheckCount),
		attribute.Int("courier.send_count", r.st.SendCount),
	}
	if len(r.st.CompletedBy) > 0 {
		attrs = append(attrs, attribute.String("courier.completed_by", strings.Join(r.st.CompletedBy, ",")))
	}
	if r.st.LastError != "" {
		attrs = append(attrs, attribute.String("courier.last_error", r.st.LastError))
	}
	return attrs
}
