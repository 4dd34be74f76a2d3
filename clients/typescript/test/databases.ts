// The three real databases the tests run on, each a fresh database (or
// file) of its own, dropped at the end. MariaDB and PostgreSQL are the ones
// at 127.0.0.1 (COURIER_TEST_MYSQL_URL, COURIER_TEST_POSTGRES_URL override
// them).
import Sqlite from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as mysql from 'mysql2/promise';
import { Client as PgClient, Pool as PgPool } from 'pg';
import { Database, Dialect } from '../src/database';
import { mysqlDatabase } from '../src/mysql';
import { pgDatabase } from '../src/pg';
import { sqliteDatabase } from '../src/sqlite';

/** A database under test. */
export interface TestDB {
  dialect: Dialect;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  db: Database<any>;
  /** Runs sql with "?" placeholders on tx, the handle a business function gets. */
  execIn(tx: unknown, sql: string, args?: unknown[]): Promise<void>;
  /** Runs sql with "?" placeholders outside any transaction. */
  query(sql: string, args?: unknown[]): Promise<Record<string, unknown>[]>;
  /** How many sessions wait for a lock (MySQL, PostgreSQL); SQLite's waits are in-process. */
  lockWaiters(): Promise<number>;
  close(): Promise<void>;
}

export const dialects: Dialect[] = ['sqlite', 'mysql', 'postgres'];

const mysqlUrl = process.env.COURIER_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/';
const postgresUrl = process.env.COURIER_TEST_POSTGRES_URL ?? 'postgres://root@127.0.0.1:5432/test';

/** "?" placeholders as PostgreSQL's $1, $2, ... */
export function pgParams(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

export async function openTestDB(dialect: Dialect): Promise<TestDB> {
  const name = `courier_ts_${randomBytes(4).toString('hex')}`;
  switch (dialect) {
    case 'sqlite': {
      const dir = mkdtempSync(join(tmpdir(), 'courier-ts-sqlite-'));
      const conn = new Sqlite(join(dir, 'test.db'));
      conn.pragma('journal_mode = WAL');
      conn.pragma('busy_timeout = 5000');
      return {
        dialect,
        db: sqliteDatabase(conn),
        execIn: async (tx, sql, args = []) => void (tx as Sqlite.Database).prepare(sql).run(...args),
        query: async (sql, args = []) => conn.prepare(sql).all(...args) as Record<string, unknown>[],
        lockWaiters: async () => 0,
        close: async () => {
          conn.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    case 'mysql': {
      const admin = await mysql.createConnection(mysqlUrl);
      await admin.query(`CREATE DATABASE ${name}`);
      const pool = mysql.createPool({ uri: mysqlUrl + name, connectionLimit: 10 });
      return {
        dialect,
        db: mysqlDatabase(pool),
        execIn: async (tx, sql, args = []) => void (await (tx as mysql.PoolConnection).query(sql, args)),
        query: async (sql, args = []) => (await pool.query(sql, args))[0] as Record<string, unknown>[],
        lockWaiters: async () => {
          const [rows] = await pool.query("SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'");
          return Number((rows as Record<string, unknown>[])[0]?.n);
        },
        close: async () => {
          await pool.end();
          await admin.query(`DROP DATABASE ${name}`);
          await admin.end();
        },
      };
    }
    case 'postgres': {
      const admin = new PgClient({ connectionString: postgresUrl });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      const url = new URL(postgresUrl);
      url.pathname = '/' + name;
      const pool = new PgPool({ connectionString: url.toString(), max: 10 });
      // DROP ... WITH (FORCE) at the end ends the sessions still open (a
      // check-back of Courier's in flight): their idle clients report it.
      pool.on('error', () => {});
      return {
        dialect,
        db: pgDatabase(pool),
        execIn: async (tx, sql, args = []) => void (await (tx as PgClient).query(pgParams(sql), args)),
        query: async (sql, args = []) => (await pool.query(pgParams(sql), args)).rows as Record<string, unknown>[],
        lockWaiters: async () => {
          const r = await pool.query("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
          return Number(r.rows[0].n);
        },
        close: async () => {
          await pool.end();
          await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
          await admin.end();
        },
      };
    }
  }
}

/** Polls until cond holds; for conditions another session makes true (no fixed sleeps). */
export async function eventually(what: string, cond: () => Promise<boolean>, limitMs = 30_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
