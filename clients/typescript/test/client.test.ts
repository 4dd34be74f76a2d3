import assert from 'node:assert/strict';
import { createServer, Server } from 'node:http';
import { after, before, test } from 'node:test';
import { Client, Message } from '../src/client';
import { ConflictError, IdConflictError, InvalidRequestError, NotFoundError, UnavailableError } from '../src/errors';
import { courierForFile, waitStatus } from './devcourier';

const courier = courierForFile();
let check: Server;
let checkUrl: string;

before(async () => {
  // A check-back endpoint that never decides: the test confirms by hand.
  check = createServer((_req, res) => res.end('{"status":"UNKNOWN"}'));
  await new Promise<void>((r) => check.listen(0, '127.0.0.1', r));
  const addr = check.address();
  checkUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/check`;
});

after(() => {
  check.close();
});

test('every route against a real courier dev', async () => {
  const c = courier.client;
  const msg: Message = { topic: 'ts-client-test', key: 'k', payload: new Uint8Array([0, 1, 2, 0xff]), checkUrl, producer: 'orders' };
  const p = await c.prepare(msg);
  assert.ok(msg.id, 'prepare gives a message without an id one, in the object');
  assert.deepEqual(p, { id: msg.id, status: 'WAITING_CONFIRM', created: true });

  const again = await c.prepare(msg);
  assert.deepEqual(again, { id: msg.id, status: 'WAITING_CONFIRM', created: false }, 'a repeated prepare is answered as a retry');
  await assert.rejects(c.prepare({ ...msg, payload: 'other' }), IdConflictError);

  assert.deepEqual(await c.confirm(msg.id, 'committed'), { id: msg.id, status: 'SENDING', previous_status: 'WAITING_CONFIRM', outcome: 'applied' },
    'the answer names the status the confirm moved the message to');
  const repeated = await c.confirm(msg.id);
  assert.equal(repeated.outcome, 'repeated');
  assert.equal(repeated.status, repeated.previous_status);
  assert.equal(repeated.reason, 'message is already confirmed');
  await assert.rejects(c.cancel(msg.id), (err: unknown) => err instanceof ConflictError && err.status === 409 && err.code === 'conflict');

  await waitStatus(c, msg.id, 'DELIVERED');
  assert.equal((await c.complete(msg.id, 'accounting')).outcome, 'applied');
  const v = await waitStatus(c, msg.id, 'COMPLETED');
  assert.deepEqual([...v.payload], [0, 1, 2, 0xff], 'the payload reads back byte for byte');
  assert.equal(v.producer, 'orders');
  const st = await c.state(msg.id);
  assert.equal(st.status, 'COMPLETED');
  assert.equal(st.id, msg.id, 'the live view names the id as get does');
  assert.equal(st.producer, 'orders');
  assert.ok(Array.isArray(st.raw.signals) && !('message_id' in st.raw));
  assert.equal(st.statusAt, undefined, "the live view's status is the workflow's, not the mirror's");

  const page = await c.list({ topic: 'ts-client-test', limit: 10 });
  assert.ok(page.messages.some((m) => m.id === msg.id));
  const byKey = await c.list({ topic: 'ts-client-test', key: 'k' });
  assert.ok(byKey.messages.some((m) => m.id === msg.id) && byKey.messages.every((m) => m.key === 'k'), 'key matches exactly');
  const listed = byKey.messages.find((m) => m.id === msg.id);
  assert.ok(listed?.statusAt !== undefined && listed.statusAt >= listed.createdAt, 'the mirror says since when the message is in its status');
  assert.equal((await c.list({ topic: 'ts-client-test', key: 'no-such-key' })).messages.length, 0);
  const stats = await c.stats();
  assert.ok(stats.total >= 1 && (stats.byStatus.COMPLETED ?? 0) >= 1);

  // send: no transaction, starts confirmed.
  const sent = await c.send({ id: 'ts-sent-1', topic: 'ts-client-test', payload: '{"a":1}' });
  assert.equal(sent.created, true);
  await waitStatus(c, 'ts-sent-1', 'DELIVERED');

  await assert.rejects(c.redrive(msg.id), ConflictError, 'only a DEAD message is re-driven');
  const rd = await c.redriveDead('ts-client-test', 5);
  assert.equal(rd.redriven, 0);
  await assert.rejects(c.get('no-such-message'), NotFoundError);
  await assert.rejects(c.prepare({ topic: '', payload: 'x', checkUrl }), InvalidRequestError);
});

test('an unknown outcome is retried, then UnavailableError; a refusal is not retried', async () => {
  let calls = 0;
  let answer = 503;
  const srv = createServer((_req, res) => {
    calls++;
    res.writeHead(answer, { 'Content-Type': 'application/json' });
    res.end(answer === 503 ? '{"error":{"code":"unavailable","message":"temporal down"}}' : '{"error":{"code":"conflict","message":"cancelled"}}');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  const c = new Client({ url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, attempts: 3, backoffMs: 1 });
  try {
    await assert.rejects(c.confirm('m-1'), (err: unknown) => err instanceof UnavailableError && err.status === 503 && err.code === 'unavailable');
    assert.equal(calls, 3, 'every attempt was made');
    calls = 0;
    answer = 409;
    await assert.rejects(c.confirm('m-1'), ConflictError);
    assert.equal(calls, 1, 'a refusal is final');
  } finally {
    srv.close();
  }
  // No answer at all: a connection refused is unavailable, status 0.
  const closed = new Client({ url: 'http://127.0.0.1:1', attempts: 2, backoffMs: 1 });
  await assert.rejects(closed.stats(), (err: unknown) => err instanceof UnavailableError && err.status === 0);
});

test('a message without an id keeps the one its first attempt gave it', async () => {
  const seen: string[] = [];
  let first = true;
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (b: Buffer) => (body += b.toString()));
    req.on('end', () => {
      seen.push((JSON.parse(body) as { id: string }).id);
      if (first) {
        // An answer lost on the way: the outcome is unknown, so it is retried.
        first = false;
        res.writeHead(502).end();
        return;
      }
      res.writeHead(201, { 'Content-Type': 'application/json' }).end(JSON.stringify({ id: seen[0], status: 'WAITING_CONFIRM' }));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  const c = new Client({ url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, backoffMs: 1 });
  try {
    const msg: Message = { topic: 't', payload: 'x', checkUrl: 'http://x/check' };
    const p = await c.prepare(msg);
    assert.equal(seen.length, 2);
    assert.equal(seen[0], seen[1], 'the retry is the same request');
    assert.equal(p.id, msg.id);
  } finally {
    srv.close();
  }
});
