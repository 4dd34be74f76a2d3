// The code of README.md's quick start, type-checked with the package (tsc
// compiles test/), so that the README cannot drift from the API.
import { createServer } from 'node:http';
import { Pool } from 'pg';
import * as mysql from 'mysql2/promise';
import { AlreadyCommittedError, Client, Consumer, Message, Producer, mysqlDatabase, pgDatabase } from '../../src';

export async function producerSide(pool: Pool, orderId: string, amount: number): Promise<void> {
  const courier = new Client({ url: process.env.COURIER_URL ?? 'http://127.0.0.1:8080' });
  const producer = new Producer(courier, pgDatabase(pool), {
    checkUrl: 'http://payments.internal:8081/courier/check',
    producer: 'payments',
  });
  await producer.migrate();
  createServer(producer.checkHandler()).listen(8081);
  const msg: Message = { topic: 'payments', key: orderId, payload: JSON.stringify({ orderId, amount }) };
  try {
    await producer.transaction(msg, async (tx) => {
      await tx.query('UPDATE orders SET paid = true WHERE id = $1', [orderId]);
    });
  } catch (err) {
    if (!(err instanceof AlreadyCommittedError)) throw err;
  }
}

export async function consumerSide(pool: mysql.Pool): Promise<void> {
  const consumer = new Consumer({
    brokers: ['127.0.0.1:9092'], topics: ['payments'], name: 'accounting',
    courier: new Client({ url: process.env.COURIER_URL ?? 'http://127.0.0.1:8080' }),
    db: mysqlDatabase(pool),
  });
  await consumer.migrate();
  const stop = new AbortController();
  process.once('SIGTERM', () => stop.abort());
  await consumer.run(async (conn, msg) => {
    await conn.query('INSERT INTO vouchers (message_id, payment) VALUES (?, ?)', [msg.id, msg.payload]);
  }, stop.signal);
}
