package tracing

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TracerName names the tracer of the spans Courier's server side starts.
const TracerName = "github.com/courier-mq/courier"

// Tracer is the tracer of Courier's own spans, from the global provider that
// Setup installs (the no-op one when tracing is off).
func Tracer() trace.Tracer { return otel.Tracer(TracerName) }

// Phase is one stretch of a message's life (waiting for confirm, publishing,
// waiting for completion), recorded as a span that starts and ends at
// workflow times.
//
// A workflow cannot hold a span open while it waits: the wait may outlast
// the worker process, and a replaying worker re-runs the code that opened it.
// So a phase's span ID is derived from what the workflow's history fixes
// (the workflow's run and the revision the phase began at), known from the
// phase's start, so that the activities inside it (a check-back, a publish)
// can name it as their parent at once; and the span is written only when the
// phase ends, by the worker that is not replaying the end, with the phase's
// start and end as its timestamps. A phase that began before a worker
// restart and ends after it is written once, by the new worker, with the same
// ID its children already name.
type Phase struct {
	// Parent is the message's stored trace context.
	Parent Carrier
	// Name is the span name.
	Name string
	// Key is unique to the phase within the trace: the workflow run and
	// revision it began at, say.
	Key string
	// Start is when the phase began, in workflow time.
	Start time.Time
}

// ID is the phase's span ID.
func (p Phase) ID() trace.SpanID {
	h := fnv.New64a()
	tid := p.Parent.SpanContext().TraceID()
	h.Write(tid[:])
	h.Write([]byte(p.Key))
	var id trace.SpanID
	binary.BigEndian.PutUint64(id[:], h.Sum64()|1) // never the invalid zero ID
	return id
}

// Child is the trace context the phase's children continue: the phase's own
// span as their parent when Courier exports traces, else the message's
// stored context unchanged (a parent nobody records would leave the
// children's parent missing in the caller's backend). Empty when the message
// has no trace context.
func (p Phase) Child() Carrier {
	parent := p.Parent.SpanContext()
	if !parent.IsValid() {
		return nil
	}
	if !exporting() {
		return p.Parent
	}
	sc := parent.WithSpanID(p.ID()).WithRemote(true)
	c := Carrier{}
	Propagator.Inject(trace.ContextWithRemoteSpanContext(p.Parent.Context(context.Background()), sc), propagation.MapCarrier(c))
	return c
}

// End writes the phase's span, ending at end, with attrs. Call it only
// where the workflow is not replaying.
func (p Phase) End(end time.Time, attrs ...attribute.KeyValue) {
	if !p.Parent.SpanContext().IsValid() || !exporting() {
		return
	}
	ctx := withSpanID(p.Parent.Context(context.Background()), p.ID())
	_, span := Tracer().Start(ctx, p.Name, trace.WithTimestamp(p.Start), trace.WithAttributes(attrs...))
	span.End(trace.WithTimestamp(end))
}

// exporting reports whether an exporting provider is installed (otlp.Setup's).
// It asks for the method every SDK provider has and the API's default one
// lacks, rather than for the SDK's type, so that this package and what links
// it (contract, activities, workflows) need not link the SDK.
func exporting() bool {
	_, ok := otel.GetTracerProvider().(interface{ ForceFlush(context.Context) error })
	return ok
}
