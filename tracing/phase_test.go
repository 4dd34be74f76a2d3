package tracing

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The tests here swap the global tracer provider, so none runs in parallel.

var stored = Carrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}

// exportTo installs an exporting provider, as Setup does, that records
// into a memory exporter.
func exportTo(t *testing.T) *tracetest.InMemoryExporter {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithIDGenerator(PhaseIDs{}))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	return exp
}

// A phase's children name its span before it is written; the span written
// at the phase's end, by any process, has that ID, the message's parent and
// the phase's workflow times.
func TestPhaseSpanIsTheParentItsChildrenNamed(t *testing.T) {
	exp := exportTo(t)
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := Phase{Parent: stored, Name: "wait for completion", Key: "msg-1/run/3", Start: start}

	child := p.Child().SpanContext()
	require.Equal(t, stored.SpanContext().TraceID(), child.TraceID())
	require.Equal(t, p.ID(), child.SpanID())
	require.True(t, child.IsSampled(), "the stored context's sampling decision carries on")

	// Another worker, after a restart, derives the same phase from the
	// same history.
	again := Phase{Parent: stored, Name: "wait for completion", Key: "msg-1/run/3", Start: start}
	again.End(start.Add(time.Minute))
	spans := exp.GetSpans()
	require.Len(t, spans, 1)
	s := spans[0]
	require.Equal(t, "wait for completion", s.Name)
	require.Equal(t, child.SpanID(), s.SpanContext.SpanID())
	require.Equal(t, stored.SpanContext().SpanID(), s.Parent.SpanID())
	require.Equal(t, start, s.StartTime.UTC())
	require.Equal(t, start.Add(time.Minute), s.EndTime.UTC())

	// Other phases get other IDs, and other spans random ones.
	require.NotEqual(t, p.ID(), Phase{Parent: stored, Key: "msg-1/run/4"}.ID())
	_, other := Tracer().Start(stored.Context(context.Background()), "other")
	other.End()
	require.NotEqual(t, p.ID(), other.SpanContext().SpanID())
}

// With no exporter, a phase writes nothing and its children continue the
// stored context itself: no parent that nobody records.
func TestPhaseWithoutExporterPassesTheStoredContextOn(t *testing.T) {
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(noop.NewTracerProvider())
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	p := Phase{Parent: stored, Name: "publish", Key: "msg-1/run/2", Start: time.Now()}
	require.Equal(t, stored, p.Child())
	p.End(time.Now()) // must not panic or write
}

// A message without a trace context has no phase spans and gives its
// children none.
func TestPhaseWithoutTraceContext(t *testing.T) {
	exp := exportTo(t)
	p := Phase{Name: "publish", Key: "msg-1/run/2", Start: time.Now()}
	require.Nil(t, p.Child())
	p.End(time.Now())
	require.Empty(t, exp.GetSpans())
	require.Equal(t, trace.SpanContext{}, Carrier(nil).SpanContext())
	require.Empty(t, Carrier(nil).TraceID())
}
