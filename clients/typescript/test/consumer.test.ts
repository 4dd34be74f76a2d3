// The consumer on SQLite, MariaDB and PostgreSQL, reading the embedded
// broker of a real courier dev with kafkajs: exactly once per message
// through a duplicate record, Courier's resends and a failing handler, and
// ids differing only in case.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { Consumer, ConsumedMessage } from '../src/consumer';
import { TraceContext, currentTraceContext, extractTraceContext, withTraceContext } from '../src/tracecontext';
import { keyType } from '../src/database';
import { courierForFile, quiet, run, waitStatus } from './devcourier';
import { TestDB, dialects, eventually, openTestDB } from './databases';

const courier = courierForFile();
const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

for (const dialect of dialects) {
  describe(`consumer on ${dialect}`, () => {
    let t: TestDB;
    before(async () => {
      t = await openTestDB(dialect);
      // Exact ids in the test's own table too: MySQL's default collation
      // would count order-7 and ORDER-7 as one.
      await t.db.exec(`CREATE TABLE consumed (message_id ${keyType(dialect, 128)} NOT NULL, attempt INT NOT NULL)`);
    });
    after(async () => t.close());

    test('each message is applied once and completed, through a duplicate, resends and a failing handler', async () => {
      const topic = `ts-consumer-${dialect}-${run}`;
      const ids = ['m1', 'm2', 'm3', 'order-7', 'ORDER-7'].map((s) => `${run}-${dialect}-${s}`);
      const failing = ids[1] as string;
      const name = `ts-accounting-${dialect}-${run}`;
      const consumer = new Consumer({ brokers: [courier.kafka], topics: [topic], name, courier: courier.client, db: t.db, attempts: 2, logger: quiet });
      await consumer.migrate();
      await consumer.migrate();
      let failures = 0;
      // The trace context each handler call had in effect, and the one its record carried.
      const traces = new Map<string, { current: TraceContext; record: TraceContext }>();
      const handler = async (tx: unknown, msg: ConsumedMessage): Promise<void> => {
        traces.set(msg.id, { current: currentTraceContext(), record: extractTraceContext(msg.headers) });
        // The failing message fails every try of its first send: it is
        // passed over, and Courier's resend (attempt 2) is applied.
        if (msg.id === failing && msg.attempt <= 1) {
          failures++;
          throw new Error(`handler fails ${msg.id} on send ${msg.attempt}`);
        }
        await t.execIn(tx, 'INSERT INTO consumed (message_id, attempt) VALUES (?, ?)', [msg.id, msg.attempt]);
      };
      const ac = new AbortController();
      const running = consumer.run(handler, ac.signal);
      try {
        // The first is sent in a trace, which the record carries to the handler.
        for (const id of ids) {
          await withTraceContext(id === ids[0] ? { traceparent: PARENT } : {}, () => courier.client.send({ id, topic, key: id, payload: JSON.stringify({ id }) }));
        }
        // A copy of a record the broker took twice (a producer retry): the
        // dedupe row skips it.
        await waitStatus(courier.client, ids[0] as string, 'COMPLETED');
        const kafka = new Kafka({ brokers: [courier.kafka], logLevel: logLevel.NOTHING });
        const producer = kafka.producer();
        await producer.connect();
        await producer.send({ topic, messages: [{ key: ids[0] as string, value: '{}', headers: { 'courier-message-id': ids[0] as string, 'courier-attempt': '1' } }] });
        // A record that is not Courier's is passed over.
        await producer.send({ topic, messages: [{ key: 'x', value: 'not courier' }] });
        await producer.disconnect();
        for (const id of ids) await waitStatus(courier.client, id, 'COMPLETED');
        // The duplicate comes after m1 on its partition only if the keys
        // hash alike; wait until the consumer's group offsets pass every
        // record instead of assuming.
        const admin = kafka.admin();
        await admin.connect();
        const ends = await admin.fetchTopicOffsets(topic);
        await eventually('the consumer commits every record', async () => {
          const done = await admin.fetchOffsets({ groupId: name, topics: [topic] });
          const parts = done[0]?.partitions ?? [];
          return ends.every((e) => BigInt(e.offset) === 0n || parts.some((p) => p.partition === e.partition && BigInt(p.offset) >= BigInt(e.offset)));
        });
        await admin.disconnect();
      } finally {
        ac.abort();
        await running;
      }
      for (const id of ids) {
        const rows = await t.query('SELECT attempt FROM consumed WHERE message_id = ?', [id]);
        assert.equal(rows.length, 1, `message ${id} applied exactly once`);
      }
      // Each read of its first record tries it attempts (2) times, then passes
      // it over; a rebalance before the offset commit reads it once more.
      assert.ok(failures >= 2 && failures % 2 === 0, `the failing handler was tried attempts times a read, then passed over: ${failures} tries`);
      // No OpenTelemetry SDK in this process: the handler has the record's trace context in effect, as it came.
      const traced = traces.get(ids[0] as string);
      assert.equal(traced?.record.traceparent?.split('-')[1], PARENT.split('-')[1], "the record continues the sender's trace");
      assert.deepEqual(traced?.current, traced?.record);
      for (const id of ids.slice(1)) assert.deepEqual(traces.get(id)?.current, traces.get(id)?.record, `message ${id}`);
      const applied = await t.query('SELECT attempt FROM consumed WHERE message_id = ?', [failing]);
      assert.ok(Number(applied[0]?.attempt) >= 2, 'the failing message was applied from a resend');
      const dedupe = await t.query('SELECT message_id FROM courier_dedupe WHERE consumer = ?', [name]);
      assert.equal(dedupe.length, ids.length, 'one dedupe row per message, case-only ids apart');
      await assert.rejects(consumer.cleanup(1000), /under/);
    });
  });
}
