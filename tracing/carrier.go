package tracing

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Propagator is the W3C Trace Context and Baggage propagator Courier reads and
// writes traceparent/tracestate with, at every boundary.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Carrier is a trace context in its W3C text form: "traceparent" and, when
// set, "tracestate" and "baggage". It is what a message stores
// (contract.Input.Trace) and what activities receive to continue the trace.
type Carrier map[string]string

// Inject is the trace context of ctx's span (a recording one, or the caller's
// remote one when Courier exports nothing), or nil when ctx has none.
func Inject(ctx context.Context) Carrier {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	c := Carrier{}
	Propagator.Inject(ctx, propagation.MapCarrier(c))
	return c
}

// Context is ctx continuing the trace in c; ctx itself when c holds none.
func (c Carrier) Context(ctx context.Context) context.Context {
	if len(c) == 0 {
		return ctx
	}
	return Propagator.Extract(ctx, propagation.MapCarrier(c))
}

// SpanContext is the span context c holds; not valid when it holds none.
func (c Carrier) SpanContext() trace.SpanContext {
	return trace.SpanContextFromContext(c.Context(context.Background()))
}

// TraceID is the hex trace id c belongs to, or "" when it holds none.
func (c Carrier) TraceID() string {
	sc := c.SpanContext()
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
