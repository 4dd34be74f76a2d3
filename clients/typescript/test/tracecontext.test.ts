import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { trace } from '@opentelemetry/api';
import { Client, Producer, currentTraceContext, withTraceContext } from '../src';
import { openTestDB } from './databases';
import { quiet } from './devcourier';

const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

test('calls carry the trace context in effect', async () => {
  const seen: Record<string, string | undefined>[] = [];
  const srv = createServer((req, res) => {
    seen.push({ traceparent: req.headers.traceparent as string | undefined, tracestate: req.headers.tracestate as string | undefined });
    req.resume();
    res.writeHead(201, { 'Content-Type': 'application/json' });
    res.end('{"id":"x","status":"SENDING"}');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  const c = new Client({ url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` });
  try {
    // As the consumer does with a record's headers.
    await withTraceContext({ Traceparent: PARENT, tracestate: 'vendor=1', 'x-other': 'y' }, async () => {
      assert.deepEqual(currentTraceContext(), { traceparent: PARENT, tracestate: 'vendor=1' });
      await c.send({ topic: 't', payload: 'x' });
    });
    await c.send({ topic: 't', payload: 'x' });
    // Invalid: no trace id.
    await withTraceContext({ traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` }, () => c.send({ topic: 't', payload: 'x' }));
  } finally {
    srv.close();
  }
  assert.deepEqual(seen, [
    { traceparent: PARENT, tracestate: 'vendor=1' },
    { traceparent: undefined, tracestate: undefined },
    { traceparent: undefined, tracestate: undefined },
  ]);
  assert.deepEqual(currentTraceContext(), {});
});

// No OpenTelemetry SDK is installed in this file's process: the client's
// spans are the API's no-ops, and the trace context in effect goes out as
// it came in.
test('with no OpenTelemetry SDK, a transaction sends the trace context in effect unchanged', async () => {
  const seen: { path: string; traceparent?: string; tracestate?: string }[] = [];
  const srv = createServer((req, res) => {
    seen.push({ path: req.url ?? '', traceparent: req.headers.traceparent as string | undefined, tracestate: req.headers.tracestate as string | undefined });
    req.resume();
    const id = 'order-1';
    if (req.url === '/v1/messages') {
      res.writeHead(201, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ id, status: 'WAITING_CONFIRM' }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ id, status: 'SCHEDULED', previous_status: 'WAITING_CONFIRM', outcome: 'applied' }));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  const db = await openTestDB('sqlite');
  try {
    const producer = new Producer(new Client({ url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` }), db.db, { checkUrl: 'http://127.0.0.1:1/check', logger: quiet });
    await producer.migrate();
    let inBusiness: unknown;
    await withTraceContext({ traceparent: PARENT, tracestate: 'vendor=1' }, () =>
      producer.transaction({ id: 'order-1', topic: 't', payload: 'x' }, () => {
        inBusiness = { current: currentTraceContext(), active: trace.getActiveSpan() };
      }),
    );
    assert.deepEqual(inBusiness, { current: { traceparent: PARENT, tracestate: 'vendor=1' }, active: undefined });
  } finally {
    srv.close();
    await db.close();
  }
  assert.deepEqual(seen, [
    { path: '/v1/messages', traceparent: PARENT, tracestate: 'vendor=1' },
    { path: '/v1/messages/order-1/confirm', traceparent: PARENT, tracestate: 'vendor=1' },
  ]);
});
