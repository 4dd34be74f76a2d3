package tracing

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"sync"

	"go.opentelemetry.io/otel/trace"
)

type spanIDKey struct{}

// withSpanID makes the next span started from ctx take id: a Phase's span,
// whose ID its children named before it was written.
func withSpanID(ctx context.Context, id trace.SpanID) context.Context {
	return context.WithValue(ctx, spanIDKey{}, id)
}

// PhaseIDs is the ID generator a tracer provider must use for Phase spans to
// keep the IDs their children named: random IDs, as the SDK's own, except
// for a span started from a context withSpanID. otlp.Setup installs it.
type PhaseIDs struct{}

var (
	randMu  sync.Mutex
	randSrc = newRand()
)

func newRand() *rand.ChaCha8 {
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	return rand.NewChaCha8(seed)
}

func (PhaseIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	randMu.Lock()
	defer randMu.Unlock()
	var tid trace.TraceID
	for !tid.IsValid() {
		binary.NativeEndian.PutUint64(tid[:8], randSrc.Uint64())
		binary.NativeEndian.PutUint64(tid[8:], randSrc.Uint64())
	}
	return tid, newSpanID(ctx)
}

func (PhaseIDs) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	randMu.Lock()
	defer randMu.Unlock()
	return newSpanID(ctx)
}

// newSpanID is ctx's fixed ID, else a random one. randMu is held.
func newSpanID(ctx context.Context) trace.SpanID {
	if id, ok := ctx.Value(spanIDKey{}).(trace.SpanID); ok && id.IsValid() {
		return id
	}
	var sid trace.SpanID
	for !sid.IsValid() {
		binary.NativeEndian.PutUint64(sid[:], randSrc.Uint64())
	}
	return sid
}
