// W3C Trace Context (traceparent, tracestate) carried through the client,
// and the spans it starts, as the Go client's internal/tracecontext: the
// trace context in effect (per async context) goes out with every Client
// call; the producer's transaction, the check-back answer and the
// consumer's processing are spans of the "@courier-mq/client" tracer, which
// the calls they make carry.
//
// Spans come from @opentelemetry/api's global tracer provider, so they are
// the API's no-ops until the service installs an SDK. The trace context is
// carried by the client's own store as well as by OpenTelemetry's context:
// a service that never configured OpenTelemetry (no context manager, so no
// OpenTelemetry context crosses an await) still passes its callers' traces
// on to Courier and from the record to its handler, as before the spans.
import { AsyncLocalStorage } from 'node:async_hooks';
import { Context, Span, SpanContext, SpanOptions, SpanStatusCode, createTraceState, context, isSpanContextValid, trace } from '@opentelemetry/api';
import { errorText } from './logger';

/** The trace context headers, lower-case as W3C spells them. */
export type TraceContext = { traceparent?: string; tracestate?: string };

/** The tracer's name: the package's, as the Go client's is its module path. */
const TRACER = '@courier-mq/client';

// version 00: 32 hex trace id, 16 hex parent id, 2 hex flags; all-zero ids
// are invalid.
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

const store = new AsyncLocalStorage<TraceContext>();

/** The valid trace context among headers (names compared case-insensitively); empty when there is none. */
export function extractTraceContext(headers: Record<string, string>): TraceContext {
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
  const parent = (lower.traceparent ?? '').trim();
  if (!TRACEPARENT.test(parent)) return {};
  const out: TraceContext = { traceparent: parent };
  if (lower.tracestate) out.tracestate = lower.tracestate;
  return out;
}

/**
 * The trace context in effect; empty when there is none. It is the active
 * OpenTelemetry span's (one of the client's, or the service's own) when
 * there is one, else the one withTraceContext or the consumer put in
 * effect.
 */
export function currentTraceContext(): TraceContext {
  return traceContextOf(activeParent());
}

/**
 * Runs fn with the trace context in headers in effect: the Client calls in
 * it carry that context, and the client's spans in it are its children. It
 * is OpenTelemetry's active span context too while fn runs, when the
 * service installed a context manager; headers without a valid one leave
 * the active span as it is.
 */
export function withTraceContext<T>(headers: Record<string, string>, fn: () => T): T {
  const p = parentFrom(headers);
  return context.with(p.ctx, () => store.run(p.tc, fn));
}

/**
 * Where a span of the client starts: an OpenTelemetry context, and the
 * trace context read into it, which the span's context is sent as
 * verbatim (tracestate unparsed) when it is the same.
 */
export interface Parent {
  ctx: Context;
  tc: TraceContext;
}

/**
 * The parent of the producer's spans: the active OpenTelemetry span, else
 * the trace context in effect.
 */
export function activeParent(): Parent {
  const active = context.active();
  const tc = store.getStore() ?? {};
  const own = trace.getSpanContext(active);
  if (own && isSpanContextValid(own)) return { ctx: active, tc };
  const sc = spanContextOf(tc);
  return { ctx: sc ? trace.setSpanContext(active, sc) : active, tc: sc ? tc : {} };
}

/**
 * The parent of a span continuing the trace context in headers (a record's,
 * a check-back request's): theirs when valid, else the active
 * OpenTelemetry span, as the Go client's propagator extracts.
 */
export function parentFrom(headers: Record<string, string>): Parent {
  const tc = extractTraceContext(headers);
  const sc = spanContextOf(tc);
  return sc ? { ctx: trace.setSpanContext(context.active(), sc), tc } : { ctx: context.active(), tc: {} };
}

/**
 * Runs fn in a span of the client's tracer, started in parent: while fn
 * runs the span is OpenTelemetry's active span and its trace context the
 * one in effect (so the Client calls in fn carry it); the span ends when fn
 * settles, in error when fn throws.
 */
export async function inSpan<T>(name: string, opts: SpanOptions, parent: Parent, fn: (span: Span) => Promise<T>): Promise<T> {
  const span = trace.getTracer(TRACER).startSpan(name, opts, parent.ctx);
  const ctx = trace.setSpan(parent.ctx, span);
  try {
    return await context.with(ctx, () => store.run(traceContextOf({ ctx, tc: parent.tc }), () => fn(span)));
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorText(err) });
    throw err;
  } finally {
    span.end();
  }
}

/** The remote span context tc's traceparent names; undefined when tc has none. */
function spanContextOf(tc: TraceContext): SpanContext | undefined {
  if (!tc.traceparent) return undefined;
  const [, traceId, spanId, flags] = tc.traceparent.split('-') as [string, string, string, string];
  const sc: SpanContext = { traceId, spanId, traceFlags: Number.parseInt(flags, 16), isRemote: true };
  if (tc.tracestate) sc.traceState = createTraceState(tc.tracestate);
  return sc;
}

/** The trace context of p's span: p.tc itself when it names the span, empty when the span is invalid. */
function traceContextOf(p: Parent): TraceContext {
  const sc = trace.getSpanContext(p.ctx);
  if (!sc || !isSpanContextValid(sc)) return {};
  const traceparent = `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
  if (traceparent === p.tc.traceparent) return { ...p.tc };
  const tracestate = sc.traceState?.serialize();
  return tracestate ? { traceparent, tracestate } : { traceparent };
}
