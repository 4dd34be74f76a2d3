// The Database of a node-postgres Pool.
import type { Pool, PoolClient } from 'pg';
import { Database, Queryer, Row, Transaction, errorField } from './database';
import { pooledTransaction, withShortWait } from './pooled';

/**
 * pgDatabase is the Database of a pg Pool; the business function gets the
 * transaction's PoolClient. Set the isolation level on the pool if you need
 * one (options: '-c default_transaction_isolation=serializable').
 */
export function pgDatabase(pool: Pool): Database<PoolClient> {
  const queryer = (c: Pool | PoolClient): Queryer => ({
    async exec(sql, args = []) {
      const r = await c.query(sql, args as unknown[]);
      return r.rowCount ?? 0;
    },
    async queryRow(sql, args = []) {
      const r = await c.query(sql, args as unknown[]);
      return r.rows[0] as Row | undefined;
    },
  });
  return {
    dialect: 'postgres',
    ...queryer(pool),
    async begin(): Promise<Transaction<PoolClient>> {
      const client = await pool.connect();
      // A connection that dies while checked out (a server restart, a
      // terminated backend) emits 'error'; without a listener that would
      // end the process. The next statement fails with it instead.
      let broken: unknown;
      const onError = (err: Error): void => {
        broken = err;
      };
      client.on('error', onError);
      return pooledTransaction(client, queryer(client), {
        begin: async () => void (await client.query('BEGIN')),
        async commit() {
          const r = await client.query('COMMIT');
          // PostgreSQL answers COMMIT of an aborted transaction with
          // ROLLBACK, not an error.
          if ((r as { command?: string }).command === 'ROLLBACK') throw new Error('COMMIT rolled back: the transaction was aborted');
        },
        rollback: async () => void (await client.query('ROLLBACK')),
        release(err) {
          client.removeListener('error', onError);
          client.release(err === undefined && broken === undefined ? undefined : true);
        },
      });
    },
    async boundedWait<T>(waitMs: number, fn: (q: Queryer) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      const onError = (): void => {};
      client.on('error', onError);
      return withShortWait(
        async () => {
          const old = (await client.query('SHOW lock_timeout')).rows[0] as { lock_timeout: string };
          await client.query(`SET lock_timeout = '${Math.max(1, Math.ceil(waitMs))}ms'`);
          return () => client.query(`SET lock_timeout = '${old.lock_timeout.replace(/'/g, "''")}'`);
        },
        () => fn(queryer(client)),
        (bad) => {
          client.removeListener('error', onError);
          client.release(bad || undefined);
        },
      );
    },
    isDuplicate: (err) => errorField(err, 'code') === '23505',
    isDeadlock: (err) => errorField(err, 'code') === '40001' || errorField(err, 'code') === '40P01',
  };
}
