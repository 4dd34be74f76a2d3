// The spans the client starts, with an OpenTelemetry SDK installed for this
// file's process (node --test runs each file in its own): the producer's
// transaction, the check-back answer and the consumer's processing, against
// a real courier dev whose gateway calls pass through a proxy that records
// their traceparent. The SDK is what a service installs: a tracer provider
// and the AsyncLocalStorage context manager (and, in the last test, no
// context manager).
import assert from 'node:assert/strict';
import { createServer, IncomingMessage, Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Span, SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Client, Message } from '../src/client';
import { Consumer, ConsumedMessage } from '../src/consumer';
import { Producer } from '../src/producer';
import { TraceContext, currentTraceContext, withTraceContext } from '../src/tracecontext';
import { courierForFile, quiet, run, waitStatus } from './devcourier';
import { TestDB, eventually, openTestDB } from './databases';

const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const PARENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';

const courier = courierForFile();

/** A gateway call as the proxy saw it. */
interface Seen {
  method: string;
  path: string;
  traceparent?: string;
}

/** An HTTP proxy in front of the courier dev that records each call's traceparent. */
async function recordingProxy(): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('end', () => {
      const s: Seen = { method: req.method ?? '', path: req.url ?? '' };
      if (typeof req.headers.traceparent === 'string') s.traceparent = req.headers.traceparent;
      seen.push(s);
      const headers: Record<string, string> = {};
      for (const h of ['accept', 'authorization', 'content-type', 'traceparent', 'tracestate']) {
        const v = req.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      const body = chunks.length > 0 ? Buffer.concat(chunks) : null;
      fetch(courier.url + (req.url ?? ''), { method: req.method ?? 'GET', headers, body })
        .then(async (r) => {
          res.writeHead(r.status, { 'Content-Type': r.headers.get('content-type') ?? 'application/json' });
          res.end(Buffer.from(await r.arrayBuffer()));
        })
        .catch((err: unknown) => {
          res.writeHead(502);
          res.end(String(err));
        });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, seen, server };
}

/** The traceparent of a sampled span. */
function traceparentOf(s: ReadableSpan | Span): string {
  const sc = s.spanContext();
  return `00-${sc.traceId}-${sc.spanId}-01`;
}

/** The one finished span named name. */
function only(name: string): ReadableSpan {
  const spans = exporter.getFinishedSpans().filter((s) => s.name === name);
  assert.equal(spans.length, 1, `one span ${name}; have ${exporter.getFinishedSpans().map((s) => s.name).join(', ')}`);
  return spans[0] as ReadableSpan;
}

describe('spans', () => {
  let t: TestDB;
  let producer: Producer<unknown>;
  let check: Server;
  let checkUrl: string;
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;
  const topic = `ts-spans-${run}`;
  const msg = (id?: string): Message => ({ ...(id ? { id: `${run}-${id}` } : {}), topic, payload: '{}' });
  const postCheck = (path: string, id: string, headers: Record<string, string>): Promise<Response> =>
    fetch(checkUrl.replace('/courier/check', path), { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ message_id: id }) });

  before(async () => {
    t = await openTestDB('sqlite');
    await t.db.exec('CREATE TABLE orders (message_id VARCHAR(128) NOT NULL)');
    proxy = await recordingProxy();
    check = createServer();
    await new Promise<void>((r) => check.listen(0, '127.0.0.1', r));
    const addr = check.address();
    checkUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/courier/check`;
    producer = new Producer(new Client({ url: proxy.url }), t.db, { checkUrl, producer: 'ts-spans', logger: quiet });
    await producer.migrate();
    // A producer whose barrier table does not exist: every check-back fails.
    const broken = new Producer(courier.client, t.db, { checkUrl, table: 'courier_missing', retentionMs: -1, logger: quiet });
    const [good, bad] = [producer.checkHandler(), broken.checkHandler()];
    check.on('request', (req, res) => (req.url === '/broken' ? bad(req, res) : good(req, res)));
  });
  after(async () => {
    check.close();
    proxy.server.close();
    await t.close();
  });

  test('a transaction is one span, a child of the active span, and the parent of its gateway calls', async () => {
    exporter.reset();
    proxy.seen.length = 0;
    const m = msg(); // prepare gives it an id
    let inBusiness: { active?: string; current: TraceContext } | undefined;
    let service!: Span;
    await trace.getTracer('payments').startActiveSpan('pay', async (span) => {
      service = span;
      try {
        await producer.transaction(m, async (tx) => {
          const active = trace.getActiveSpan();
          inBusiness = { current: currentTraceContext(), ...(active ? { active: traceparentOf(active) } : {}) };
          await t.execIn(tx, 'INSERT INTO orders (message_id) VALUES (?)', [m.id]);
        });
      } finally {
        span.end();
      }
    });
    const txn = only(`transaction ${topic}`);
    assert.equal(txn.kind, SpanKind.INTERNAL);
    assert.equal(txn.instrumentationScope.name, '@courier-mq/client');
    assert.deepEqual(txn.attributes, { 'messaging.system': 'courier', 'messaging.destination.name': topic, 'messaging.message.id': m.id });
    assert.equal(txn.status.code, SpanStatusCode.UNSET);
    assert.equal(txn.spanContext().traceId, service.spanContext().traceId);
    assert.equal(txn.parentSpanContext?.spanId, service.spanContext().spanId, "the service's active span is the parent");
    assert.deepEqual(inBusiness, { active: traceparentOf(txn), current: { traceparent: traceparentOf(txn) } }, 'the business runs in the span');
    assert.deepEqual(proxy.seen, [
      { method: 'POST', path: '/v1/messages', traceparent: traceparentOf(txn) },
      { method: 'POST', path: `/v1/messages/${m.id}/confirm`, traceparent: traceparentOf(txn) },
    ]);
    await waitStatus(courier.client, m.id as string, 'DELIVERED');
  });

  test("a business that throws ends the span with an error status; the trace context in effect is the span's parent", async () => {
    exporter.reset();
    proxy.seen.length = 0;
    const m = msg('declined');
    await assert.rejects(
      withTraceContext({ traceparent: PARENT, tracestate: 'vendor=1' }, () =>
        producer.transaction(m, () => {
          throw new Error('card declined');
        }),
      ),
      /card declined/,
    );
    const txn = only(`transaction ${topic}`);
    assert.deepEqual(txn.status, { code: SpanStatusCode.ERROR, message: 'card declined' });
    assert.equal(txn.attributes['messaging.message.id'], m.id);
    assert.equal(txn.spanContext().traceId, PARENT_TRACE);
    assert.equal(txn.parentSpanContext?.spanId, PARENT_SPAN);
    assert.equal(txn.parentSpanContext?.isRemote, true);
    assert.deepEqual(
      proxy.seen.map((s) => [s.path, s.traceparent]),
      [
        ['/v1/messages', traceparentOf(txn)],
        [`/v1/messages/${m.id}/cancel`, traceparentOf(txn)],
      ],
    );
    await waitStatus(courier.client, m.id as string, 'CANCELLED');
  });

  test("a check-back answer is a server span continuing the request's traceparent, in error when the answer is unknown", async () => {
    const m = msg('checked');
    await producer.transaction(m, () => {});
    exporter.reset();
    const ok = await postCheck('/courier/check', m.id as string, { traceparent: PARENT });
    assert.deepEqual(await ok.json(), { status: 'COMMITTED' });
    const answered = only('check-back answer');
    assert.equal(answered.kind, SpanKind.SERVER);
    assert.equal(answered.spanContext().traceId, PARENT_TRACE);
    assert.equal(answered.parentSpanContext?.spanId, PARENT_SPAN);
    assert.deepEqual(answered.attributes, { 'messaging.message.id': m.id, 'courier.check.answer': 'COMMITTED' });
    assert.equal(answered.status.code, SpanStatusCode.UNSET);

    exporter.reset();
    const unknown = await postCheck('/broken', m.id as string, { traceparent: PARENT });
    assert.equal(unknown.status, 503);
    const failed = only('check-back answer');
    assert.equal(failed.parentSpanContext?.spanId, PARENT_SPAN);
    assert.equal(failed.attributes['courier.check.answer'], 'UNKNOWN');
    assert.equal(failed.status.code, SpanStatusCode.ERROR);
    assert.match(failed.status.message ?? '', /courier_missing/);
  });

  test("the handler and the complete run in a consumer span continuing the record's trace", async () => {
    exporter.reset();
    proxy.seen.length = 0;
    const name = `ts-spans-accounting-${run}`;
    const consumer = new Consumer({ brokers: [courier.kafka], topics: [topic], name, courier: new Client({ url: proxy.url }), db: t.db, attempts: 2, logger: quiet });
    await consumer.migrate();
    const id = `${run}-consumed`;
    let seen: { msg: ConsumedMessage; active?: string; current: TraceContext } | undefined;
    let tries = 0;
    const ac = new AbortController();
    const running = consumer.run(async (_tx, msg) => {
      if (msg.id !== id) return;
      if (++tries === 1) throw new Error('ledger locked');
      const active = trace.getActiveSpan();
      seen = { msg, current: currentTraceContext(), ...(active ? { active: traceparentOf(active) } : {}) };
    }, ac.signal);
    try {
      // No resend while the test runs (this dev Courier resends after 2 s,
      // less than a fresh group's join and the older records take on a
      // loaded machine): a resend is another record, so another process
      // span and another complete.
      await withTraceContext({ traceparent: PARENT }, () =>
        courier.client.send({ id, topic, key: id, payload: '{}', policy: { resendIntervalsMs: [600_000] } }),
      );
      await waitStatus(courier.client, id, 'COMPLETED');
      await eventually('the process span ends', async () => exporter.getFinishedSpans().some((s) => s.name === `process ${topic}` && s.attributes['messaging.message.id'] === id));
    } finally {
      ac.abort();
      await running;
    }
    const spans = exporter.getFinishedSpans().filter((s) => s.name === `process ${topic}` && s.attributes['messaging.message.id'] === id);
    assert.equal(spans.length, 1);
    const span = spans[0] as ReadableSpan;
    assert.ok(seen, 'the handler ran');
    const record = seen.msg.headers.traceparent ?? '';
    assert.match(record, /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, 'the record carries a traceparent');
    assert.equal(record.split('-')[1], PARENT_TRACE, "the record continues the sender's trace");
    assert.equal(span.kind, SpanKind.CONSUMER);
    assert.equal(span.spanContext().traceId, PARENT_TRACE);
    assert.equal(span.parentSpanContext?.spanId, record.split('-')[2], "the record's traceparent is the parent");
    assert.deepEqual(span.attributes, {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.destination.name': topic,
      'messaging.destination.partition.id': String(seen.msg.partition),
      'messaging.kafka.offset': Number(seen.msg.offset),
      'messaging.message.id': id,
      'messaging.consumer.group.name': name,
      'courier.send.attempt': 1,
    });
    assert.deepEqual(
      span.events.map((e) => [e.name, e.attributes]),
      [['handler failed', { attempt: 1, error: 'ledger locked' }]],
    );
    assert.equal(span.status.code, SpanStatusCode.UNSET, 'the second try succeeded');
    assert.equal(seen.active, traceparentOf(span), 'the handler sees the span active');
    assert.deepEqual(seen.current, { traceparent: traceparentOf(span) });
    assert.deepEqual(
      proxy.seen.filter((s) => s.path.includes(id)),
      [{ method: 'POST', path: `/v1/messages/${id}/complete`, traceparent: traceparentOf(span) }],
    );
  });

  // Last: it takes the context manager away.
  test('with a tracer provider and no context manager, the trace context in effect carries the spans', async () => {
    context.disable();
    exporter.reset();
    proxy.seen.length = 0;
    const m = msg('no-context-manager');
    let current: TraceContext | undefined;
    await withTraceContext({ traceparent: PARENT }, () =>
      producer.transaction(m, () => {
        current = currentTraceContext();
      }),
    );
    const txn = only(`transaction ${topic}`);
    assert.equal(txn.parentSpanContext?.spanId, PARENT_SPAN);
    assert.deepEqual(current, { traceparent: traceparentOf(txn) });
    assert.deepEqual(
      proxy.seen.map((s) => s.traceparent),
      [traceparentOf(txn), traceparentOf(txn)],
    );
  });
});
