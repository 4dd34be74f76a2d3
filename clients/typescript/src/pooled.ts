// What the databases with a connection pool (mysql.ts, pg.ts) do alike
// around the driver's own statements: give a connection back exactly once,
// and close rather than pool one whose state is not known. Not exported
// from the package.
import { Queryer, Transaction } from './database';

/** How one driver begins, ends and gives back a pooled connection. */
export interface PooledConnection {
  begin(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  /**
   * Gives the connection back to its pool; err is what ended the
   * transaction, if anything did, and the connection is then closed (it may
   * be in any state).
   */
  release(err?: unknown): void;
}

/**
 * Begins a transaction on a pooled connection: handle is what the business
 * function gets, q runs statements on it. The connection goes back once:
 * after commit, rollback or the first of their errors.
 */
export async function pooledTransaction<Tx>(handle: Tx, q: Queryer, conn: PooledConnection): Promise<Transaction<Tx>> {
  let released = false;
  const release = (err?: unknown): void => {
    if (released) return;
    released = true;
    conn.release(err);
  };
  try {
    await conn.begin();
  } catch (err) {
    release(err);
    throw err;
  }
  return {
    handle,
    ...q,
    async commit() {
      try {
        await conn.commit();
        release();
      } catch (err) {
        release(err);
        throw err;
      }
    },
    async rollback() {
      if (released) return;
      try {
        await conn.rollback();
        release();
      } catch (err) {
        release(err);
      }
    },
  };
}

/**
 * Runs fn on a pooled connection with a shorter lock wait: shorten sets it
 * and returns what puts the connection's own back, so the pool never hands
 * a business transaction the short wait. release gives the connection back;
 * bad when anything failed, and it is then closed instead.
 */
export async function withShortWait<T>(
  shorten: () => Promise<() => Promise<unknown>>,
  fn: () => Promise<T>,
  release: (bad: boolean) => void,
): Promise<T> {
  let bad = false;
  try {
    const restore = await shorten();
    try {
      return await fn();
    } finally {
      try {
        await restore();
      } catch {
        bad = true;
      }
    }
  } catch (err) {
    bad = true;
    throw err;
  } finally {
    release(bad);
  }
}
