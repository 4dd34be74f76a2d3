// The small database interface the producer and the consumer run on, and
// the little SQL that differs between the databases (client/dialect in Go):
// placeholders, insert-if-absent, key columns that compare exactly. One
// implementation per driver: pg.ts, mysql.ts, sqlite.ts.

/** The SQL of one database: MySQL/MariaDB (InnoDB), PostgreSQL or SQLite. */
export type Dialect = 'mysql' | 'postgres' | 'sqlite';

/** A row as the drivers return it: column name to value. */
export type Row = Record<string, unknown>;

/** Runs statements on one connection or transaction. */
export interface Queryer {
  /** Runs a statement and returns the rows it changed. */
  exec(sql: string, args?: readonly unknown[]): Promise<number>;
  /** Runs a query expected to return at most one row. */
  queryRow(sql: string, args?: readonly unknown[]): Promise<Row | undefined>;
}

/**
 * A transaction in flight. handle is what the caller's business or
 * handler function gets: the driver's own connection in the transaction.
 */
export interface Transaction<Tx> extends Queryer {
  readonly handle: Tx;
  /** Commits and gives the connection back. */
  commit(): Promise<void>;
  /** Rolls back and gives the connection back; it never throws. */
  rollback(): Promise<void>;
}

/**
 * A business database as the producer and the consumer use it. pgDatabase,
 * mysqlDatabase and sqliteDatabase make one from a driver's pool or
 * connection; Tx is the type the business function gets.
 */
export interface Database<Tx> extends Queryer {
  readonly dialect: Dialect;
  /** Begins a transaction on a connection of its own. */
  begin(): Promise<Transaction<Tx>>;
  /**
   * Runs fn on one connection whose lock waits end after waitMs, in the
   * database too (innodb_lock_wait_timeout, lock_timeout, busy_timeout, set
   * for fn and put back after it), so a statement whose caller gave up does
   * not linger there holding a connection.
   */
  boundedWait<T>(waitMs: number, fn: (q: Queryer) => Promise<T>): Promise<T>;
  /** Reports an insert refused because the key exists. */
  isDuplicate(err: unknown): boolean;
  /** Reports a statement the database aborted to break a deadlock or a serialization conflict. */
  isDeadlock(err: unknown): boolean;
}

/** The database's query placeholders: n of them, comma-separated. */
export function params(d: Dialect, n: number, from = 1): string {
  const p: string[] = [];
  for (let i = 0; i < n; i++) p.push(d === 'postgres' ? `$${from + i}` : '?');
  return p.join(', ');
}

/**
 * insert as a statement that does nothing when the row's key exists,
 * waiting for a transaction that is writing that key. key lists the key's
 * columns.
 */
export function insertIfAbsent(d: Dialect, insert: string, key: string): string {
  if (d === 'mysql') {
    // Unlike INSERT IGNORE, this ignores only the duplicate key.
    const first = (key.split(',')[0] ?? key).trim();
    return `${insert} ON DUPLICATE KEY UPDATE ${first} = ${first}`;
  }
  return `${insert} ON CONFLICT (${key}) DO NOTHING`;
}

/** The statement creating an index, for the databases whose CREATE TABLE cannot declare one ("" for MySQL). */
export function createIndex(d: Dialect, name: string, table: string, columns: string): string {
  if (d === 'mysql') return '';
  return `CREATE INDEX IF NOT EXISTS ${name} ON ${table} (${columns})`;
}

/**
 * The column type of a key of up to n bytes that compares exactly:
 * Courier's ids are case-sensitive ("order-7" and "ORDER-7" are two
 * messages), and MySQL's default collations ignore case and trailing
 * spaces, so there it is VARBINARY.
 */
export function keyType(d: Dialect, n: number): string {
  return d === 'mysql' ? `VARBINARY(${n})` : `VARCHAR(${n})`;
}

/** Refuses a table name that is not a plain SQL identifier, since it is written into statements. */
export function checkTable(name: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) throw new Error(`table ${JSON.stringify(name)} is not a plain SQL name`);
}

/**
 * Turns each of table's columns that MySQL compares with a collation (a
 * VARCHAR of an earlier migrate, by any client) into keyType(n), keeping its
 * rows. Elsewhere it does nothing.
 */
export async function exactKeys(db: Database<unknown>, table: string, n: number, ...columns: string[]): Promise<void> {
  if (db.dialect !== 'mysql') return;
  for (const col of columns) {
    const row = await db.queryRow(
      'SELECT DATA_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?',
      [table, col],
    );
    if (row === undefined) throw new Error(`read the type of ${table}.${col}: no such column`);
    if (String(row.t).toLowerCase() === 'varbinary') continue;
    await db.exec(`ALTER TABLE ${table} MODIFY ${col} ${keyType('mysql', n)} NOT NULL`);
  }
}

/** A driver error's field, when it has one. */
export function errorField(err: unknown, field: string): unknown {
  return typeof err === 'object' && err !== null ? (err as Record<string, unknown>)[field] : undefined;
}
