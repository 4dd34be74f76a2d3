// Package tracing is the W3C Trace Context a message carries for its whole
// life and the spans Courier starts with it, through the OpenTelemetry API
// only.
//
// otlp.Setup (package tracing/otlp) installs the exporter the standard OTEL_*
// environment variables describe (OTLP over HTTP or gRPC, the sampler, the service name); with none
// of them set nothing is exported and every span Courier starts is the
// OpenTelemetry API's no-op. The W3C propagator is installed either way, so a
// caller's traceparent still reaches the workflow, the check-back request and
// the Kafka record when Courier itself exports nothing.
//
// A message's trace context (Carrier) is taken from the gateway's span when
// the message is prepared or sent and stored in the workflow's input, so it
// survives worker restarts and re-drives. The workflow cannot keep an
// in-memory span open across a worker restart; it records each phase of the
// lifecycle (Phase) as a span with an ID derived from the workflow's own
// deterministic state, written when the phase ends and only by the worker
// that is not replaying it.
package tracing
