package producer_test

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// spanRecorder is a tracer provider that keeps the name, attributes and
// status of every span started, so that a test sees the client's spans
// without an SDK (the module links none).
type spanRecorder struct {
	noop.TracerProvider
	mu    sync.Mutex
	spans []*recordedSpan
}

type recordedSpan struct {
	noop.Span
	r      *spanRecorder
	name   string
	attrs  map[attribute.Key]string
	status codes.Code
}

type recordingTracer struct {
	noop.Tracer
	r *spanRecorder
}

func (r *spanRecorder) Tracer(string, ...trace.TracerOption) trace.Tracer {
	return recordingTracer{r: r}
}

func (t recordingTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	s := &recordedSpan{r: t.r, name: name, attrs: map[attribute.Key]string{}}
	cfg := trace.NewSpanStartConfig(opts...)
	s.SetAttributes(cfg.Attributes()...)
	t.r.mu.Lock()
	t.r.spans = append(t.r.spans, s)
	t.r.mu.Unlock()
	return trace.ContextWithSpan(ctx, s), s
}

func (s *recordedSpan) SetAttributes(kv ...attribute.KeyValue) {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	for _, a := range kv {
		s.attrs[a.Key] = a.Value.Emit()
	}
}

func (s *recordedSpan) SetStatus(code codes.Code, _ string) {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.status = code
}

// find is the span named name whose messaging.message.id is id, or nil.
func (r *spanRecorder) find(name, id string) *recordedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.spans {
		if s.name == name && s.attrs["messaging.message.id"] == id {
			return s
		}
	}
	return nil
}
