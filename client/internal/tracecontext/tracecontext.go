// Package tracecontext is how the client packages carry W3C Trace Context
// (traceparent, tracestate): the one propagator they read and write it with,
// and the tracer of their spans.
//
// The propagator is W3C's, not the OpenTelemetry global one, because it is
// Courier's contract: a service that never configured OpenTelemetry still
// passes its callers' traces on to Courier and from the record to its
// handler. Spans come from the global tracer provider, so they are the
// API's no-ops until the service installs an SDK.
package tracecontext

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Propagator reads and writes traceparent, tracestate and baggage.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Tracer is the client packages' tracer, from the global provider.
func Tracer() trace.Tracer {
	return otel.Tracer("github.com/courier-mq/courier/client")
}
