package app

import (
	"github.com/courier-mq/courier/tracing"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// temporalTracing is the interceptor that carries the caller's trace context
// from a Temporal client's calls (start, signal, update, query) in Temporal's
// headers, with a client span for each, through Temporal's OpenTelemetry
// support. It is a client interceptor only, so a worker made from the same
// client does not pick up the SDK's workflow spans: its RunWorkflow span
// lives in one worker's memory and is lost with it, which would cut the
// trace at a worker restart. Workflows record their phases themselves
// (tracing.Phase).
func temporalTracing() (interceptor.ClientInterceptor, error) {
	i, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer:            tracing.Tracer(),
		TextMapPropagator: tracing.Propagator,
		// A query is a read, often the console's; it is no step of the
		// message's life.
		DisableQueryTracing: true,
	})
	if err != nil {
		return nil, err
	}
	return clientOnly{i}, nil
}

// clientOnly hides the worker half of an interceptor that is both.
type clientOnly struct{ interceptor.ClientInterceptor }
