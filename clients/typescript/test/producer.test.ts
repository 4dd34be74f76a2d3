// The producer on SQLite, MariaDB and PostgreSQL against a real courier dev:
// what transaction returns in each case of the Go client's table, and the
// check-back races, with Courier itself calling the check-back handler.
import assert from 'node:assert/strict';
import { createServer, Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Answer, Message } from '../src/client';
import { UnavailableError } from '../src/errors';
import { AlreadyCommittedError, CheckedBackError, Producer, RolledBackError, retentionFloorMs } from '../src/producer';
import { courierForFile, quiet, run, waitStatus } from './devcourier';
import { TestDB, dialects, eventually, openTestDB } from './databases';

const courier = courierForFile();

/** A deferred gate a business function waits at. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

for (const dialect of dialects) {
  describe(`producer on ${dialect}`, () => {
    let t: TestDB;
    let producer: Producer<unknown>;
    let server: Server;
    let checkUrl: string;
    const topic = `ts-producer-${dialect}-${run}`;
    const msg = (id: string): Message => ({ id: `${run}-${dialect}-${id}`, topic, payload: JSON.stringify({ id }) });
    const effects = async (id: string): Promise<number> =>
      Number((await t.query('SELECT COUNT(*) AS n FROM orders WHERE message_id = ?', [id]))[0]?.n);
    const postCheck = async (id: string): Promise<string> => {
      const r = await fetch(checkUrl, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ message_id: id }) });
      return ((await r.json()) as { status: string }).status;
    };

    before(async () => {
      t = await openTestDB(dialect);
      await t.db.exec('CREATE TABLE orders (message_id VARCHAR(128) NOT NULL, note VARCHAR(64))');
      server = createServer();
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const addr = server.address();
      checkUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/courier/check`;
      producer = new Producer(courier.client, t.db, { checkUrl, producer: 'ts-tests', logger: quiet });
      server.on('request', producer.checkHandler());
      await producer.migrate();
      await producer.migrate(); // migrate is idempotent
    });
    after(async () => {
      server.close();
      await t.close();
    });

    test('a business that succeeds commits and its message is delivered', async () => {
      const m = msg('commit');
      const result = await producer.transaction(m, async (tx) => {
        await t.execIn(tx, 'INSERT INTO orders (message_id) VALUES (?)', [m.id]);
        return 42;
      });
      assert.equal(result, 42, 'transaction resolves with what the business returned');
      assert.equal(await effects(m.id as string), 1);
      await waitStatus(courier.client, m.id as string, 'DELIVERED');
      assert.equal(await postCheck(m.id as string), 'COMMITTED');
    });

    test('a thrown error rolls back, cancels the message and comes back unchanged; a retry is checked back', async () => {
      const m = msg('business-error');
      const boom = new Error('card declined');
      let runs = 0;
      await assert.rejects(
        producer.transaction(m, async (tx) => {
          runs++;
          await t.execIn(tx, 'INSERT INTO orders (message_id) VALUES (?)', [m.id]);
          throw boom;
        }),
        (err: unknown) => err === boom,
      );
      assert.equal(await effects(m.id as string), 0);
      await waitStatus(courier.client, m.id as string, 'CANCELLED');
      assert.equal(await postCheck(m.id as string), 'ROLLED_BACK');
      // A retry with the same message object: refused before the business runs.
      await assert.rejects(producer.transaction(m, async () => void runs++), CheckedBackError);
      assert.equal(runs, 1, 'the business did not run again');
    });

    test('a retry after a commit whose confirm was lost is already committed, and the message is delivered', async () => {
      // A Courier whose confirms never arrive, as when the service dies
      // sending one: the commit happened, the caller may not know it.
      const lossy = {
        prepare: (m: Message, o?: { signal?: AbortSignal }) => courier.client.prepare(m, o),
        cancel: (id: string, r?: string) => courier.client.cancel(id, r),
        confirm: (): Promise<Answer> => Promise.reject(new UnavailableError('POST confirm', 0, '', 'connection reset')),
      };
      const p = new Producer(lossy, t.db, { checkUrl, producer: 'ts-tests', logger: quiet });
      const m = msg('confirm-lost');
      let runs = 0;
      await p.transaction(m, async (tx) => {
        runs++;
        await t.execIn(tx, 'INSERT INTO orders (message_id) VALUES (?)', [m.id]);
      });
      const again: Message = { ...msg('confirm-lost') };
      await assert.rejects(producer.transaction(again, async () => void runs++), AlreadyCommittedError);
      assert.equal(runs, 1);
      assert.equal(await effects(m.id as string), 1);
      await waitStatus(courier.client, m.id as string, 'DELIVERED');
    });

    for (const ending of ['commits', 'rolls back'] as const) {
      test(`a check-back while the transaction is open waits, then agrees: it ${ending}`, async () => {
        const m = msg(`open-${ending.replace(' ', '-')}`);
        const g = gate();
        const entered = gate();
        const call = producer.transaction(m, async (tx) => {
          await t.execIn(tx, 'INSERT INTO orders (message_id) VALUES (?)', [m.id]);
          entered.open();
          await g.wait;
          if (ending === 'rolls back') throw new Error('business failed after the check-back came');
        });
        const settled = call.then(
          () => 'committed',
          (err: unknown) => (err instanceof Error ? err.message : String(err)),
        );
        await entered.wait;
        // The check-back comes while the barrier row is uncommitted.
        let answered = false;
        const answer = postCheck(m.id as string).finally(() => (answered = true));
        if (dialect !== 'sqlite') {
          // Release the transaction only once the check-back waits for its
          // barrier row (or has answered already: UNKNOWN is allowed).
          await eventually('the check-back waits for the barrier row', async () => answered || (await t.lockWaiters()) >= 1);
        }
        g.open();
        const got = await answer;
        const outcome = await settled;
        if (ending === 'commits') {
          assert.equal(outcome, 'committed');
          assert.ok(got === 'COMMITTED' || got === 'UNKNOWN', `a check-back of a transaction that commits answered ${got}`);
          assert.equal(await postCheck(m.id as string), 'COMMITTED');
          await waitStatus(courier.client, m.id as string, 'DELIVERED');
        } else {
          assert.equal(outcome, 'business failed after the check-back came');
          assert.ok(got === 'ROLLED_BACK' || got === 'UNKNOWN', `a check-back of a transaction that rolls back answered ${got}`);
          await waitStatus(courier.client, m.id as string, 'CANCELLED');
        }
      });
    }

    test('a check-back before the transaction decides it: the transaction is refused, its business never runs', async () => {
      const m = msg('checked-first');
      // Prepared with this very id by someone else, then checked back with
      // no transaction anywhere: ROLLED_BACK, for good.
      assert.equal(await producer.check(m.id as string), 'ROLLED_BACK');
      let runs = 0;
      await assert.rejects(producer.transaction(m, async () => void runs++), CheckedBackError);
      assert.equal(runs, 0);
      await waitStatus(courier.client, m.id as string, 'CANCELLED');
    });

    test('a signal ended before COMMIT rolls back: RolledBackError, the message cancelled', async () => {
      const m = msg('aborted');
      const ac = new AbortController();
      await assert.rejects(
        producer.transaction(
          m,
          async (tx) => {
            await t.execIn(tx, 'INSERT INTO orders (message_id) VALUES (?)', [m.id]);
            ac.abort(new Error('the caller went away'));
          },
          { signal: ac.signal },
        ),
        RolledBackError,
      );
      assert.equal(await effects(m.id as string), 0);
      await waitStatus(courier.client, m.id as string, 'CANCELLED');
    });

    test('ids differing only in case are two messages', async () => {
      const lower = msg('case-id');
      const upper: Message = { ...msg('case-id'), id: (msg('case-id').id as string).toUpperCase() };
      for (const m of [lower, upper]) {
        await producer.transaction(m, async (tx) => t.execIn(tx, 'INSERT INTO orders (message_id) VALUES (?)', [m.id]));
      }
      const rows = await t.query('SELECT message_id FROM courier_barrier WHERE message_id IN (?, ?)', [lower.id, upper.id]);
      assert.equal(rows.length, 2, 'one barrier row each');
      await waitStatus(courier.client, lower.id as string, 'DELIVERED');
      await waitStatus(courier.client, upper.id as string, 'DELIVERED');
    });

    test('cleanup refuses a retention under the floor and keeps younger rows', async () => {
      await assert.rejects(producer.cleanup(retentionFloorMs() - 1), /under/);
      assert.equal(await producer.cleanup(retentionFloorMs()), 0, 'every row is younger than the floor');
      assert.throws(() => new Producer(courier.client, t.db, { checkUrl, retentionMs: 60_000 }), /under/);
    });
  });
}

test('the check-back handler works as Express-style middleware after a JSON body parser, and only for POST', async () => {
  const t = await openTestDB('sqlite');
  const producer = new Producer(courier.client, t.db, { checkUrl: 'http://127.0.0.1:1/courier/check', logger: quiet });
  await producer.migrate();
  const handler = producer.checkHandler();
  // What express.json() does before the route: the body is read and parsed
  // into req.body, and the stream is spent.
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (b: Buffer) => (raw += b.toString()));
    req.on('end', () => {
      if (raw !== '') (req as typeof req & { body?: unknown }).body = JSON.parse(raw);
      handler(req, res, () => res.writeHead(500).end('next was called'));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/courier/check`;
  try {
    const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ message_id: `${run}-express` }) });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { status: 'ROLLED_BACK' }, 'no transaction wrote the message: rolled back, for good');
    const get = await fetch(url);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    const bad = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { status: string }).status, 'UNKNOWN');
  } finally {
    server.close();
    await t.close();
  }
});
