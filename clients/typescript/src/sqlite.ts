// The Database of a better-sqlite3 connection.
import type { Database as SqliteConnection } from 'better-sqlite3';
import { Database, Queryer, Row, Transaction, errorField } from './database';

/**
 * sqliteDatabase is the Database of one better-sqlite3 connection; the
 * business function gets that connection, inside the transaction.
 *
 * better-sqlite3 is synchronous and has one connection, while a business
 * function is async: two transactions interleaving their statements on the
 * connection would be one transaction. So every transaction, check-back and
 * dedupe here takes the connection in turn (an async lock), as SQLite's own
 * database lock orders writers of separate connections. A check-back
 * waiting for an open transaction therefore waits for the lock, bounded by
 * its deadline, and answers UNKNOWN when that passes. Run your own writes
 * on this connection through Producer.transaction (or your own code that
 * awaits nothing between BEGIN and COMMIT): a statement of yours issued
 * while a producer transaction is open becomes part of it.
 *
 * Another process writing the same file is waited for with SQLite's
 * busy_timeout, which blocks this process's event loop while it waits
 * (better-sqlite3 cannot wait asynchronously): set a short one
 * (db.pragma('busy_timeout = 5000')) and WAL mode.
 */
export function sqliteDatabase(db: SqliteConnection): Database<SqliteConnection> {
  const lock = new Lock();
  const queryer: Queryer = {
    exec(sql, args = []) {
      return Promise.resolve(db.prepare(sql).run(...(args as unknown[])).changes);
    },
    queryRow(sql, args = []) {
      return Promise.resolve(db.prepare(sql).get(...(args as unknown[])) as Row | undefined);
    },
  };
  // Outside a transaction a statement still takes its turn, so that it does
  // not land in another caller's open transaction.
  const serialized: Queryer = {
    exec: (sql, args) => lock.run(() => queryer.exec(sql, args)),
    queryRow: (sql, args) => lock.run(() => queryer.queryRow(sql, args)),
  };
  return {
    dialect: 'sqlite',
    ...serialized,
    async begin(): Promise<Transaction<SqliteConnection>> {
      const release = await lock.acquire();
      try {
        db.exec('BEGIN');
      } catch (err) {
        release();
        throw err;
      }
      let done = false;
      return {
        handle: db,
        ...queryer,
        async commit() {
          if (done) throw new Error('the transaction is over');
          done = true;
          try {
            db.exec('COMMIT');
          } catch (err) {
            // A COMMIT that failed on a busy database leaves the
            // transaction open: end it, or the connection stays in it.
            if (db.inTransaction) {
              try {
                db.exec('ROLLBACK');
              } catch {
                // nothing more to do
              }
            }
            throw err;
          } finally {
            release();
          }
        },
        async rollback() {
          if (done) return;
          done = true;
          try {
            // SQLite may have rolled back already (INSERT OR ROLLBACK, an
            // I/O error); ROLLBACK then has nothing to do.
            if (db.inTransaction) db.exec('ROLLBACK');
          } catch {
            // The connection is left as SQLite left it.
          } finally {
            release();
          }
        },
      };
    },
    async boundedWait<T>(waitMs: number, fn: (q: Queryer) => Promise<T>): Promise<T> {
      const start = Date.now();
      const release = await lock.acquire(waitMs);
      const old = Number(db.pragma('busy_timeout', { simple: true }));
      try {
        db.pragma(`busy_timeout = ${Math.max(1, Math.ceil(waitMs - (Date.now() - start)))}`);
        return await fn(queryer);
      } finally {
        db.pragma(`busy_timeout = ${old}`);
        release();
      }
    },
    isDuplicate: (err) => {
      const code = errorField(err, 'code');
      return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
    },
    // SQLite has no deadlock victims: a writer waits for the database lock.
    isDeadlock: () => false,
  };
}

/** An async lock: one holder at a time, in order; a wait may be bounded. */
class Lock {
  private held = false;
  private readonly waiters: Array<() => void> = [];

  /** Runs fn holding the lock. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Resolves with the release function once held; rejects after timeoutMs. */
  acquire(timeoutMs?: number): Promise<() => void> {
    const release = (): void => {
      const next = this.waiters.shift();
      if (next) next();
      else this.held = false;
    };
    if (!this.held) {
      this.held = true;
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const take = (): void => {
        if (timer) clearTimeout(timer);
        resolve(release);
      };
      this.waiters.push(take);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(take);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new Error(`the database is held by a transaction in flight; gave up after ${timeoutMs} ms`));
        }, Math.max(0, timeoutMs));
      }
    });
  }
}
