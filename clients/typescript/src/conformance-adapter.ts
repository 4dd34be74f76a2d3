#!/usr/bin/env node
// The conformance adapter of @courier-mq/client: it speaks the suite's
// JSON-lines protocol (client/conformance/README.md in Courier's
// repository) on stdin and stdout and drives this package's Producer and
// Consumer, so that the Go runner tests them exactly as it tests the Go
// client. Its log goes to stderr. Run the suite with it:
//
//   COURIER_CONFORMANCE_ADAPTER="node clients/typescript/dist/src/conformance-adapter.js" go -C client test ./conformance
import { createServer, Server } from 'node:http';
import { createInterface } from 'node:readline';
import type { Database as SqliteConnection } from 'better-sqlite3';
import type { Pool as MysqlPool, PoolConnection } from 'mysql2/promise';
import type { Pool as PgPool, PoolClient } from 'pg';
import { Client, Message } from './client';
import { Consumer, ConsumedMessage } from './consumer';
import { Database, Dialect } from './database';
import { CourierError } from './errors';
import { Logger } from './logger';
import { mysqlDatabase } from './mysql';
import { pgDatabase } from './pg';
import { Policy, parseGoDuration } from './policy';
import { AlreadyCommittedError, CheckedBackError, CommitUnknownError, Producer, RolledBackError, retentionFloorMs } from './producer';
import { sqliteDatabase } from './sqlite';

/** One request line; README.md's protocol describes each op's fields. */
interface Request {
  id: number;
  op: string;
  mode?: string;
  dialect?: Dialect;
  url?: string;
  isolation?: string;
  courier_url?: string;
  check_listen?: string;
  table?: string;
  dedupe_table?: string;
  effect_sql?: string;
  producer?: string;
  found_rows?: boolean;
  ref?: string;
  message?: { id?: string; topic: string; key?: string; payload: string; policy?: WirePolicy };
  reuse?: string;
  steps?: Step[];
  gate?: string;
  retention_ms?: number;
  name?: string;
  topics?: string[];
  brokers?: string[];
  attempts?: number;
  handler?: { effect_sql: string; fail_ids?: string[]; fail_sends?: number };
}

interface WirePolicy {
  check_delay?: string;
  check_max_delay?: string;
  check_timeout?: string;
  check_max_attempts?: number;
  resend_intervals?: string[];
}

interface Step {
  sql?: string;
  args?: unknown[];
  ignore_error?: boolean;
  report?: string;
  gate?: string;
  fail?: string;
  sleep_ms?: number;
}

const log = (msg: string, fields?: Record<string, unknown>): void => {
  process.stderr.write(`${new Date().toISOString()} ${msg} ${fields ? JSON.stringify(fields) : ''}\n`);
};
const logger: Logger = { debug: log, warn: log, error: log };

function send(line: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}

/** The errors the business function itself throws, and its "panic". */
class BusinessError extends Error {}
class BusinessPanic extends Error {}

/** What open builds: the driver's handle, the Database over it, the producer. */
interface Side {
  dialect: Dialect;
  db: Database<unknown>;
  producer: Producer<unknown>;
  courier: Client;
  effectSql: string;
  dedupeTable: string;
  execIn(tx: unknown, sql: string, args: unknown[]): Promise<void>;
  queryIn(tx: unknown, sql: string): Promise<string>;
  server: Server;
}

let side: Side | undefined;
const gates = new Map<string, { promise: Promise<void>; open: () => void }>();
const aborts = new Map<string, AbortController>();
const messages = new Map<string, Message>();
const consumers = new Map<string, { stop: AbortController; done: Promise<void> }>();

/** The gate's promise, made by whichever of the gate and its release comes first. */
function gate(name: string): { promise: Promise<void>; open: () => void } {
  let g = gates.get(name);
  if (g === undefined) {
    let open!: () => void;
    const promise = new Promise<void>((r) => (open = r));
    g = { promise, open };
    gates.set(name, g);
  }
  return g;
}

/** "?" placeholders as PostgreSQL's. */
function pgParams(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

function firstValue(row: unknown): string {
  if (row === undefined || row === null) return '';
  const v = Object.values(row as Record<string, unknown>)[0];
  return v === undefined || v === null ? '' : String(v);
}

async function open(req: Request): Promise<unknown> {
  const dialect = req.dialect;
  const url = req.url ?? '';
  const isolation = req.isolation ?? '';
  if (req.found_rows && dialect !== 'mysql') throw new Error(`found_rows is a MySQL flag, not one of ${String(dialect)}`);
  let db: Database<unknown>;
  let execIn: Side['execIn'];
  let queryIn: Side['queryIn'];
  switch (dialect) {
    case 'sqlite': {
      if (isolation !== '') throw new Error(`sqlite has no isolation ${isolation}`);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const Sqlite = require('better-sqlite3') as typeof import('better-sqlite3');
      const conn = new Sqlite(new URL(url).pathname);
      conn.pragma('journal_mode = WAL');
      // A writer of another process waits for its lock instead of failing.
      conn.pragma('busy_timeout = 10000');
      db = sqliteDatabase(conn) as Database<unknown>;
      execIn = async (tx, sql, args) => void (tx as SqliteConnection).prepare(sql).run(...args);
      queryIn = async (tx, sql) => firstValue((tx as SqliteConnection).prepare(sql).get());
      break;
    }
    case 'mysql': {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mysql = require('mysql2/promise') as typeof import('mysql2/promise');
      // mysql2 sets CLIENT_FOUND_ROWS by default; found_rows says so
      // explicitly, as a service's configuration would.
      const pool: MysqlPool = mysql.createPool({ uri: url, connectionLimit: 20, ...(req.found_rows ? { flags: ['FOUND_ROWS'] } : {}) });
      if (isolation !== '') {
        const level = isolation.replace(/_/g, ' ').toUpperCase();
        // Every new connection of the pool, before it is handed out.
        pool.pool.on('connection', (conn) => conn.query(`SET SESSION TRANSACTION ISOLATION LEVEL ${level}`));
      }
      db = mysqlDatabase(pool) as Database<unknown>;
      execIn = async (tx, sql, args) => void (await (tx as PoolConnection).query(sql, args));
      queryIn = async (tx, sql) => firstValue(((await (tx as PoolConnection).query(sql))[0] as unknown[])[0]);
      break;
    }
    case 'postgres': {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const pg = require('pg') as typeof import('pg');
      const cfg: import('pg').PoolConfig = { connectionString: url, max: 20 };
      if (isolation !== '') cfg.options = `-c default_transaction_isolation=${isolation.replace(/_/g, '\\ ')}`;
      const pool: PgPool = new pg.Pool(cfg);
      // A session the runner terminates reports it on its idle client.
      pool.on('error', (err) => log('postgres pool error', { error: err.message }));
      db = pgDatabase(pool) as Database<unknown>;
      execIn = async (tx, sql, args) => void (await (tx as PoolClient).query(pgParams(sql), args));
      queryIn = async (tx, sql) => firstValue((await (tx as PoolClient).query(sql)).rows[0]);
      break;
    }
    default:
      throw new Error(`unknown dialect ${String(dialect)}`);
  }
  if (req.mode !== 'sql') throw new Error(`unknown mode ${String(req.mode)}`);
  const courier = new Client({ url: req.courier_url ?? '' });
  const listen = req.check_listen ?? '127.0.0.1:0';
  const colon = listen.lastIndexOf(':');
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(listen.slice(colon + 1)), listen.slice(0, colon), () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const checkUrl = `http://${listen.slice(0, colon)}:${port}/courier/check`;
  const producer = new Producer(courier, db, { checkUrl, producer: req.producer ?? '', table: req.table ?? '', logger });
  await producer.migrate();
  const handler = producer.checkHandler();
  server.on('request', (rq, rs) => {
    if ((rq.url ?? '').split('?')[0] === '/courier/check') handler(rq, rs);
    else rs.writeHead(404).end();
  });
  side = { dialect, db, producer, courier, effectSql: req.effect_sql ?? '', dedupeTable: req.dedupe_table ?? '', execIn, queryIn, server };
  return { check_url: checkUrl, retention_floor_ms: retentionFloorMs() };
}

function opened(): Side {
  if (side === undefined) throw new Error('open comes first');
  return side;
}

/** req's message, or the very object an earlier call was given when req reuses it. */
function message(req: Request): Message {
  if (req.reuse) {
    const m = messages.get(req.reuse);
    if (m === undefined) throw new Error(`no call ${req.reuse} to reuse the message of`);
    messages.set(req.ref ?? '', m);
    return m;
  }
  const w = req.message;
  if (w === undefined) throw new Error('a transaction needs a message');
  const m: Message = { topic: w.topic, payload: w.payload };
  if (w.id) m.id = w.id;
  if (w.key) m.key = w.key;
  if (w.policy) {
    const p: Policy = {};
    if (w.policy.check_delay) p.checkDelayMs = parseGoDuration(w.policy.check_delay);
    if (w.policy.check_max_delay) p.checkMaxDelayMs = parseGoDuration(w.policy.check_max_delay);
    if (w.policy.check_timeout) p.checkTimeoutMs = parseGoDuration(w.policy.check_timeout);
    if (w.policy.check_max_attempts) p.checkMaxAttempts = w.policy.check_max_attempts;
    if (w.policy.resend_intervals?.length) p.resendIntervalsMs = w.policy.resend_intervals.map(parseGoDuration);
    m.policy = p;
  }
  messages.set(req.ref ?? '', m);
  return m;
}

async function transaction(req: Request): Promise<unknown> {
  const s = opened();
  const ref = req.ref ?? '';
  const msg = message(req);
  const ac = new AbortController();
  aborts.set(ref, ac);
  const values: Record<string, string> = {};
  const place = (sql: string): string => (s.dialect === 'postgres' ? pgParams(sql) : sql);
  const business = async (tx: unknown): Promise<void> => {
    try {
      await s.execIn(tx, place(s.effectSql), [ref, msg.id]);
    } catch (err) {
      throw new BusinessError(`effect row: ${String(err)}`);
    }
    for (const [i, st] of (req.steps ?? []).entries()) {
      if (st.sql && st.report) {
        try {
          values[st.report] = await s.queryIn(tx, st.sql);
        } catch (err) {
          if (!st.ignore_error) throw new BusinessError(`step ${i}: ${String(err)}`);
        }
      } else if (st.sql) {
        try {
          await s.execIn(tx, place(st.sql), st.args ?? []);
        } catch (err) {
          if (!st.ignore_error) throw new BusinessError(`step ${i}: ${String(err)}`);
          log('statement error ignored', { ref, step: i, error: String(err) });
        }
      } else if (st.gate) {
        send({ event: 'gate', ref, gate: st.gate, message_id: msg.id, values });
        await gate(st.gate).promise;
      } else if (st.fail === 'panic') {
        throw new BusinessPanic(`the business panicked at step ${i}`);
      } else if (st.fail) {
        throw new BusinessError(`step ${i} says so`);
      } else if (st.sleep_ms) {
        await new Promise((r) => setTimeout(r, st.sleep_ms));
      }
    }
  };
  let outcome: string;
  let error: string | undefined;
  try {
    await s.producer.transaction(msg, business, { signal: ac.signal });
    outcome = 'committed';
  } catch (err) {
    error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    if (err instanceof BusinessPanic) outcome = 'panic';
    else if (err instanceof BusinessError) outcome = 'business_error';
    else if (err instanceof CheckedBackError) outcome = 'checked_back';
    else if (err instanceof AlreadyCommittedError) outcome = 'already_committed';
    else if (err instanceof RolledBackError) outcome = 'rolled_back';
    else if (err instanceof CommitUnknownError) outcome = 'commit_unknown';
    // Only the prepare's failure comes back as Courier's error; the
    // confirm's and the cancel's are left to the check-back.
    else if (err instanceof CourierError) outcome = 'prepare_failed';
    else outcome = 'error';
  } finally {
    aborts.delete(ref);
  }
  const res: Record<string, unknown> = { message_id: msg.id, outcome };
  if (error !== undefined) res.error = error;
  return res;
}

async function consume(req: Request): Promise<unknown> {
  const s = opened();
  const h = req.handler;
  if (h === undefined) throw new Error('consume needs a handler');
  const name = req.name ?? '';
  const c = new Consumer({
    brokers: req.brokers ?? [],
    topics: req.topics ?? [],
    name,
    courier: s.courier,
    db: s.db,
    table: s.dedupeTable,
    attempts: req.attempts ?? 0,
    logger,
  });
  await c.migrate();
  const effect = s.dialect === 'postgres' ? pgParams(h.effect_sql) : h.effect_sql;
  const handler = async (tx: unknown, msg: ConsumedMessage): Promise<void> => {
    if ((h.fail_ids ?? []).includes(msg.id) && msg.attempt <= (h.fail_sends ?? 0)) {
      throw new Error(`the handler fails message ${msg.id} on send ${msg.attempt}`);
    }
    await s.execIn(tx, effect, [name, msg.id, msg.attempt]);
  };
  const ref = req.ref ?? '';
  if (consumers.has(ref)) throw new Error(`consumer ${ref} runs already`);
  const stop = new AbortController();
  const done = c.run(handler, stop.signal);
  done.catch((err: unknown) => log('consumer stopped', { ref, error: String(err) }));
  consumers.set(ref, { stop, done });
  return {};
}

async function serve(req: Request): Promise<unknown> {
  switch (req.op) {
    case 'hello':
      return { client: 'courier-typescript', version: '0.1.0', modes: ['sql'] };
    case 'open':
      return open(req);
    case 'transaction':
      return transaction(req);
    case 'release':
      gate(req.gate ?? '').open();
      return {};
    case 'cancel': {
      const ac = aborts.get(req.ref ?? '');
      if (ac === undefined) throw new Error(`no transaction ${String(req.ref)} is running`);
      ac.abort(new Error('cancelled by the runner'));
      return {};
    }
    case 'cleanup':
      return { deleted: await opened().producer.cleanup(req.retention_ms ?? 0) };
    case 'consume':
      return consume(req);
    case 'stop_consumer': {
      const r = consumers.get(req.ref ?? '');
      if (r === undefined) throw new Error(`no consumer ${String(req.ref)}`);
      consumers.delete(req.ref ?? '');
      r.stop.abort();
      await r.done;
      return {};
    }
  }
  throw new Error(`unknown op ${req.op}`);
}

function main(): void {
  const running = new Set<Promise<void>>();
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => {
    let req: Request;
    try {
      req = JSON.parse(line) as Request;
    } catch (err) {
      log('bad request line', { line, error: String(err) });
      return;
    }
    // Requests run concurrently: a transaction waits at a gate while the
    // release, a check-back or another transaction comes in.
    const p = serve(req).then(
      (result) => send({ id: req.id, result }),
      (err: unknown) => send({ id: req.id, error: err instanceof Error ? err.message : String(err) }),
    );
    running.add(p);
    void p.finally(() => running.delete(p));
  });
  lines.on('close', () => {
    void Promise.allSettled([...running]).then(() => process.exit(0));
  });
}

main();
