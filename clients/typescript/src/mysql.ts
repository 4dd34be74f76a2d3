// The Database of a mysql2/promise Pool (MySQL and MariaDB, InnoDB).
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { Database, Queryer, Row, Transaction, errorField } from './database';
import { pooledTransaction, withShortWait } from './pooled';

/**
 * mysqlDatabase is the Database of a mysql2/promise Pool; the business
 * function gets the transaction's PoolConnection.
 */
export function mysqlDatabase(pool: Pool): Database<PoolConnection> {
  const queryer = (c: Pool | PoolConnection): Queryer => ({
    async exec(sql, args = []) {
      const [r] = await c.query<ResultSetHeader>(sql, args as unknown[]);
      return r.affectedRows;
    },
    async queryRow(sql, args = []) {
      const [rows] = await c.query<RowDataPacket[]>(sql, args as unknown[]);
      return rows[0] as Row | undefined;
    },
  });
  return {
    dialect: 'mysql',
    ...queryer(pool),
    async begin(): Promise<Transaction<PoolConnection>> {
      const conn = await pool.getConnection();
      return pooledTransaction(conn, queryer(conn), {
        begin: () => conn.beginTransaction(),
        commit: () => conn.commit(),
        rollback: () => conn.rollback(),
        // A connection whose transaction ended in an error may be in any
        // state: it is closed rather than given to the next caller.
        release: (err) => (err === undefined ? conn.release() : conn.destroy()),
      });
    },
    async boundedWait<T>(waitMs: number, fn: (q: Queryer) => Promise<T>): Promise<T> {
      const conn = await pool.getConnection();
      return withShortWait(
        async () => {
          const [rows] = await conn.query<RowDataPacket[]>('SELECT @@SESSION.innodb_lock_wait_timeout AS v');
          const old = Number((rows[0] as Row).v);
          // Whole seconds, at least one: the server's unit.
          await conn.query(`SET SESSION innodb_lock_wait_timeout = ${Math.max(1, Math.ceil(waitMs / 1000))}`);
          return () => conn.query(`SET SESSION innodb_lock_wait_timeout = ${old}`);
        },
        () => fn(queryer(conn)),
        (bad) => (bad ? conn.destroy() : conn.release()),
      );
    },
    isDuplicate: (err) => errorField(err, 'errno') === 1062,
    isDeadlock: (err) => errorField(err, 'errno') === 1213 || errorField(err, 'sqlState') === '40001',
  };
}
