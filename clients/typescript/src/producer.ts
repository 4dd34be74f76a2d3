// The upstream half of Courier's reliable-message pattern: one call runs
// the business transaction and makes its message happen exactly when the
// transaction commits, and one HTTP handler answers Courier's check-back
// from the database itself. A port of the Go client's client/producer
// (producer.go, checkback.go, cleanup.go, dialect.go); its doc.go explains
// why the barrier row makes every answer true, and this file follows it
// branch for branch.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { Answer, Message, Prepared } from './client';
import { Database, Queryer, checkTable, createIndex, exactKeys, insertIfAbsent, keyType, params, Dialect } from './database';
import { ConflictError } from './errors';
import { Logger, consoleLogger, errorText } from './logger';
import { checkSpanMs, defaultPolicy, over, FullPolicy } from './policy';
import { activeParent, inSpan, parentFrom } from './tracecontext';

/** What the producer calls of Courier's API; a Client is one. */
export interface Courier {
  prepare(msg: Message, opts?: { signal?: AbortSignal }): Promise<Prepared>;
  confirm(id: string, reason?: string): Promise<Answer>;
  cancel(id: string, reason?: string): Promise<Answer>;
}

/** Shapes a Producer. */
export interface ProducerConfig {
  /** Where Courier reaches checkHandler(), e.g. http://payments.internal:8080/courier/check. Required. */
  checkUrl: string;
  /** Names the service in its messages. With API keys the key's name is the producer: leave it out or give that name. */
  producer?: string;
  /** The barrier table's name. Default DEFAULT_BARRIER_TABLE. */
  table?: string;
  /** Reports what the caller cannot act on (a confirm that failed after the commit). Default console. */
  logger?: Logger;
  /**
   * How long barrier rows are kept; the producer deletes older ones itself,
   * at most once per cleanupEveryMs, from the calls it serves. It must
   * outlast the check-back schedule of every message: the constructor
   * refuses one under retentionFloorMs(), transaction a message whose own
   * policy needs more. Default DEFAULT_RETENTION_MS; negative turns the
   * cleanup off (then call cleanup yourself).
   */
  retentionMs?: number;
  /** The least time between two background cleanups. Default an hour. */
  cleanupEveryMs?: number;
  /**
   * Bounds how long a check-back waits for a transaction in flight that
   * holds the message's barrier row; it then answers UNKNOWN and Courier
   * asks again. Default 5 s, under Courier's default check-back timeout.
   */
  checkWaitMs?: number;
}

/** How long barrier rows are kept by default: a week, far beyond the default check-back schedule (about 65 minutes). */
export const DEFAULT_RETENTION_MS = 7 * 24 * 3600_000;

/** The barrier table's default name, shared with the Go client. */
export const DEFAULT_BARRIER_TABLE = 'courier_barrier';

/**
 * The shortest retention cleanup and the constructor accept: twice the time
 * from prepare to the last check-back under the default policy, the margin
 * covering check-backs that run late while Courier's worker is down.
 */
export function retentionFloorMs(): number {
  return retentionFor(defaultPolicy());
}

/** The least retention that covers a message with timing p. */
function retentionFor(p: FullPolicy): number {
  return 2 * checkSpanMs(p);
}

/** The longest message id Courier accepts. */
const maxIdLen = 128;

/** Outcomes stored in the barrier table. */
const committed = 'committed';
const rolledBack = 'rolled_back';

/**
 * The DDL that creates the barrier table: the same as the Go client's
 * producer.Schema, so that services in several languages share a table.
 */
export function barrierSchema(d: Dialect, table: string): string {
  if (d === 'mysql') {
    return `CREATE TABLE IF NOT EXISTS ${table} (
	message_id ${keyType(d, maxIdLen)} NOT NULL PRIMARY KEY,
	outcome VARCHAR(16) NOT NULL,
	created_at BIGINT NOT NULL,
	KEY ${table}_created (created_at)
) ENGINE=InnoDB`;
  }
  return `CREATE TABLE IF NOT EXISTS ${table} (
	message_id ${keyType(d, maxIdLen)} NOT NULL PRIMARY KEY,
	outcome VARCHAR(16) NOT NULL,
	created_at BIGINT NOT NULL
)`;
}

/** The base of the errors that say what became of a transaction. */
export class TransactionError extends Error {
  /** The message the transaction was for. */
  readonly messageId: string;
  constructor(messageId: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.messageId = messageId;
  }
}

/**
 * The message's transaction is settled as rolled back (an earlier call with
 * this message failed, or a check-back found no transaction for it); the
 * message is cancelled and the business function did not run. Start again
 * with a new message.
 */
export class CheckedBackError extends TransactionError {}

/**
 * The message's transaction committed in an earlier call (a retry after an
 * error whose commit had happened); the message is sent and the business
 * function did not run again. Treat it as success.
 */
export class AlreadyCommittedError extends TransactionError {}

/**
 * The transaction did not commit though the business function returned:
 * the signal ended before COMMIT, COMMIT failed, or the database rolled the
 * transaction back under a statement error the business function ignored
 * (a deadlock on MySQL/MariaDB). The barrier row proves it and the message
 * is cancelled. cause is why.
 */
export class RolledBackError extends TransactionError {}

/**
 * COMMIT failed and the database could not be asked whether it happened.
 * Courier's check-back finds out from the barrier row and sends or cancels
 * the message accordingly; a retry with the same message is safe: it runs
 * the business function only if the first did not commit.
 */
export class CommitUnknownError extends TransactionError {}

/**
 * The transaction committed, but Courier refused its confirm (an operator
 * cancelled the message by hand): the message will not be sent. cause is
 * the ConflictError.
 */
export class ConfirmRefusedError extends TransactionError {}

/** Options of one transaction. */
export interface TransactionOptions {
  /**
   * Ends the call: the prepare stops, and a signal ended when the business
   * function returns means the transaction is rolled back (RolledBackError)
   * instead of committed. It is not given to the database mid-statement.
   */
  signal?: AbortSignal;
}

/**
 * Runs business transactions with their messages. Make one per service and
 * database; it is safe for concurrent use.
 */
export class Producer<Tx> {
  private readonly cfg: Required<Omit<ProducerConfig, 'producer'>> & { producer: string };
  private cleanupRunning = false;
  private lastCleanup = -Infinity;

  /** A Producer whose barrier table is in db, the business database. Create the table with migrate(). */
  constructor(
    private readonly courier: Courier,
    private readonly db: Database<Tx>,
    cfg: ProducerConfig,
  ) {
    if (!cfg.checkUrl) throw new Error('producer: checkUrl is required: Courier asks it whether a transaction committed');
    const table = cfg.table || DEFAULT_BARRIER_TABLE;
    checkTable(table);
    const retentionMs = cfg.retentionMs || DEFAULT_RETENTION_MS;
    if (retentionMs > 0 && retentionMs < retentionFloorMs()) {
      throw new Error(`producer: retentionMs ${retentionMs} is under ${retentionFloorMs()}: a committed barrier row deleted before the last check-back is answered ROLLED_BACK`);
    }
    this.cfg = {
      checkUrl: cfg.checkUrl,
      producer: cfg.producer ?? '',
      table,
      logger: cfg.logger ?? consoleLogger,
      retentionMs,
      cleanupEveryMs: cfg.cleanupEveryMs && cfg.cleanupEveryMs > 0 ? cfg.cleanupEveryMs : 3600_000,
      checkWaitMs: cfg.checkWaitMs && cfg.checkWaitMs > 0 ? cfg.checkWaitMs : 5_000,
    };
  }

  /**
   * Creates the barrier table and its index unless they exist, and makes
   * the message id of a MySQL table made by an earlier version compare
   * exactly (it ignored case).
   */
  async migrate(): Promise<void> {
    const d = this.db.dialect;
    const t = this.cfg.table;
    for (const stmt of [barrierSchema(d, t), createIndex(d, `${t}_created`, t, 'created_at')]) {
      if (stmt === '') continue;
      await this.db.exec(stmt);
    }
    await exactKeys(this.db as Database<unknown>, t, maxIdLen, 'message_id');
  }

  /**
   * Prepares msg, runs business in a transaction of the producer's database
   * together with the message's barrier row, commits and confirms; it
   * resolves with what business returned: the transaction committed and the
   * message will be delivered. What else it throws, each time after
   * settling the message (see the README's table):
   *
   * - what business threw, unchanged: rolled back, the message cancelled;
   * - RolledBackError: rolled back for another reason (its cause says
   *   which), the message cancelled;
   * - CheckedBackError / AlreadyCommittedError: the message's transaction
   *   was decided by an earlier call or a check-back; business did not run;
   * - CommitUnknownError: COMMIT failed and the database could not be asked;
   * - ConfirmRefusedError: committed, but an operator cancelled the message;
   * - a CourierError (IdConflictError, UnavailableError, ...): the prepare
   *   failed; nothing ran.
   *
   * msg.checkUrl and msg.producer are set from the config; a message
   * without an id gets one, set in msg. Retrying is safe, with the same
   * object or id: a message is one transaction. A retry after its
   * transaction committed throws AlreadyCommittedError, after it rolled
   * back CheckedBackError, both before business runs.
   *
   * The whole call is one span, "transaction <topic>" (a child of the
   * active OpenTelemetry span, else of the trace context in effect), that
   * the prepare, business and confirm or cancel run in: the message keeps
   * its trace context from there for its whole life in Courier and to its
   * consumers. It is in error when the call throws.
   */
  async transaction<T>(msg: Message, business: (tx: Tx) => Promise<T> | T, opts: TransactionOptions = {}): Promise<T> {
    const attributes = { 'messaging.system': 'courier', 'messaging.destination.name': msg.topic };
    return inSpan(`transaction ${msg.topic}`, { attributes }, activeParent(), async (span) => {
      try {
        return await this.run(msg, business, opts);
      } finally {
        // Set at the end: prepare gives a message without an id one.
        if (msg.id) span.setAttribute('messaging.message.id', msg.id);
      }
    });
  }

  private async run<T>(msg: Message, business: (tx: Tx) => Promise<T> | T, opts: TransactionOptions): Promise<T> {
    const { signal } = opts;
    msg.checkUrl = this.cfg.checkUrl;
    if (!msg.producer) msg.producer = this.cfg.producer;
    if (this.cfg.retentionMs > 0) {
      const need = retentionFor(over(msg.policy));
      if (need > this.cfg.retentionMs) {
        throw new Error(`producer: the message's check-back schedule needs barrier rows kept ${need} ms, retentionMs is ${this.cfg.retentionMs}: raise retentionMs or shorten the policy`);
      }
    }
    this.cleanupSoon();
    const prepared = await this.courier.prepare(msg, signal ? { signal } : {});
    const id = msg.id as string;
    switch (prepared.status) {
      case 'WAITING_CONFIRM':
      case 'CHECK_EXHAUSTED':
        break; // Open: the barrier row decides below.
      case 'CANCELLED':
        throw new CheckedBackError(id, `producer: the message's transaction is already rolled back: message ${id} is CANCELLED`);
      default:
        throw new AlreadyCommittedError(id, `producer: the message's transaction already committed: message ${id} is ${prepared.status}`);
    }
    let tx;
    try {
      tx = await this.db.begin();
    } catch (err) {
      throw await this.abandon(id, new Error(`begin transaction for message ${id}: ${errorText(err)}`, { cause: err }));
    }
    const token = Date.now();
    try {
      await tx.exec(this.insert(), [id, committed, token]);
    } catch (err) {
      await tx.rollback();
      throw await this.taken(id, err);
    }
    let result: T;
    try {
      result = await business(tx.handle);
    } catch (berr) {
      // A thrown error or a "panic" alike: roll back at once (the barrier
      // row's lock goes with it), settle, and let it through unchanged.
      await tx.rollback();
      await this.abandon(id, berr);
      throw berr;
    }
    // A database may have rolled the transaction back under a statement
    // error the business ignored (InnoDB on a deadlock); the statements
    // after it then ran on their own and COMMIT has nothing to commit. The
    // transaction's own barrier row is the proof that it is still one.
    let proof: Error | undefined;
    if (signal?.aborted) {
      proof = new Error(`message ${id}: the call's signal ended before COMMIT: ${errorText(signal.reason)}`, { cause: signal.reason });
    } else {
      try {
        const row = await tx.queryRow(this.selectRow(), [id]);
        if (row === undefined || row.outcome !== committed || String(row.created_at) !== String(token)) {
          proof = new Error(`message ${id}: its barrier row is gone: the database rolled it back under an error the business function ignored`);
        }
      } catch (err) {
        proof = new Error(`message ${id}: ${errorText(err)}`, { cause: err });
      }
    }
    if (proof !== undefined) {
      await tx.rollback();
      throw await this.abandon(id, proof);
    }
    try {
      await tx.commit();
    } catch (cerr) {
      await this.afterFailedCommit(id, token, cerr);
      return result;
    }
    await this.confirm(id);
    return result;
  }

  /**
   * Handles a barrier row that could not be written: the message's
   * transaction is decided already (a retry, a check-back, another call
   * with the id), or the write failed. Returns the error to throw.
   */
  private async taken(id: string, ierr: unknown): Promise<Error> {
    let row;
    try {
      if (this.db.isDeadlock(ierr)) {
        // The write lost a deadlock to a transaction deciding the same id
        // (a rollback and its settling check-back, seen on MySQL), which
        // may not have committed yet: wait for its decision as a check-back
        // does, rather than read a row that is not there yet.
        row = { outcome: (await this.check(id)) === 'COMMITTED' ? committed : rolledBack };
      } else {
        row = await this.db.queryRow(this.selectRow(), [id]);
      }
    } catch {
      row = undefined;
    }
    if (row?.outcome === rolledBack) {
      await this.cancel(id, 'barrier row says rolled back');
      return new CheckedBackError(id, `producer: the message's transaction is already rolled back (message ${id})`);
    }
    if (row?.outcome === committed) {
      // An earlier call committed; its confirm may have been lost.
      await this.confirm(id);
      return new AlreadyCommittedError(id, `producer: the message's transaction already committed (message ${id})`);
    }
    return this.abandon(id, new Error(`write barrier row for message ${id}: ${errorText(ierr)}`, { cause: ierr }));
  }

  /**
   * Settles message id after its transaction did not commit and returns
   * RolledBackError with cause: the message is cancelled once the barrier
   * row says rolled back. If another transaction with the id committed
   * meanwhile, nothing is cancelled; if the barrier cannot be read, the
   * check-back settles the message later.
   */
  private async abandon(id: string, cause: unknown): Promise<RolledBackError> {
    const err = new RolledBackError(id, `producer: the transaction rolled back: ${errorText(cause)}`, { cause });
    let status;
    try {
      status = await this.check(id);
    } catch (cerr) {
      this.cfg.logger.warn('courier: could not settle a transaction that did not commit; the check-back will cancel the message', { id, error: errorText(cerr) });
      return err;
    }
    if (status === 'ROLLED_BACK') await this.cancel(id, 'transaction rolled back');
    return err;
  }

  /**
   * Finds out from the barrier row whether a COMMIT that failed happened:
   * token tells this transaction's row from another's. Resolves when it
   * did (and the message is confirmed); throws otherwise.
   */
  private async afterFailedCommit(id: string, token: number, cerr: unknown): Promise<void> {
    let row;
    try {
      await this.check(id);
      row = await this.db.queryRow(this.selectRow(), [id]);
    } catch (err) {
      throw new CommitUnknownError(id, `producer: the commit's outcome is unknown: message ${id}: ${errorText(cerr)}; ${errorText(err)}`, { cause: cerr });
    }
    if (row?.outcome === committed && String(row.created_at) === String(token)) {
      await this.confirm(id);
      return;
    }
    if (row?.outcome === rolledBack) await this.cancel(id, 'commit failed');
    throw new RolledBackError(id, `producer: the transaction rolled back: message ${id}: commit: ${errorText(cerr)}`, { cause: cerr });
  }

  /**
   * Tells Courier the message's transaction committed. A confirm that fails
   * is logged: the check-back confirms the message instead. One that is
   * refused (an operator cancelled the message) is thrown.
   */
  private async confirm(id: string): Promise<void> {
    try {
      await this.courier.confirm(id);
    } catch (err) {
      if (err instanceof ConflictError) {
        throw new ConfirmRefusedError(id, `producer: the transaction of message ${id} committed, but Courier refused its confirm: ${err.message}`, { cause: err });
      }
      this.cfg.logger.warn('courier: confirm after commit failed; the check-back will confirm the message', { id, error: errorText(err) });
    }
  }

  /** Tells Courier the message's transaction rolled back: a shortcut, the check-back finds the same later. */
  private async cancel(id: string, reason: string): Promise<void> {
    try {
      await this.courier.cancel(id, reason);
    } catch (err) {
      if (!(err instanceof ConflictError)) {
        this.cfg.logger.warn('courier: cancel failed; the check-back will cancel the message', { id, error: errorText(err) });
      }
    }
  }

  /**
   * Decides message id: "COMMITTED" or "ROLLED_BACK". It inserts a
   * rolled_back barrier row unless the message has one, waiting for a
   * transaction in flight that writes one, and reads the row. The wait ends
   * after waitMs (default the config's checkWaitMs), in the database too.
   * A rejection means the answer is unknown; never derive one from it.
   */
  async check(id: string, opts: { waitMs?: number } = {}): Promise<'COMMITTED' | 'ROLLED_BACK'> {
    this.cleanupSoon();
    const wait = Math.min(opts.waitMs ?? this.cfg.checkWaitMs, this.cfg.checkWaitMs);
    if (wait <= 0) throw new Error(`check message ${id}: no time left to wait`);
    let outcome: unknown;
    try {
      outcome = await this.db.boundedWait(wait, async (q: Queryer) => {
        for (let attempt = 1; ; attempt++) {
          try {
            await q.exec(insertIfAbsent(this.db.dialect, this.insert(), 'message_id'), [id, rolledBack, Date.now()]);
            break;
          } catch (err) {
            // Two check-backs of one message waiting on the same
            // transaction can deadlock when it rolls back (both then
            // insert); the database picks a victim, whose
            // insert-if-absent is safe to run again.
            if (!this.db.isDeadlock(err) || attempt === 3) throw err;
          }
        }
        const row = await q.queryRow(this.selectRow(), [id]);
        if (row === undefined) throw new Error('read barrier row: no row');
        return row.outcome;
      });
    } catch (err) {
      throw new Error(`check message ${id}: ${errorText(err)}`, { cause: err });
    }
    if (outcome === committed) return 'COMMITTED';
    if (outcome === rolledBack) return 'ROLLED_BACK';
    throw new Error(`check message ${id}: unexpected barrier outcome ${String(outcome)}`);
  }

  /**
   * Answers Courier's check-back calls (POST, JSON body with message_id)
   * from the barrier table. Mount it at the path of checkUrl: with
   * node:http as a request listener, or with Express/Connect as middleware
   * (app.post('/courier/check', producer.checkHandler())); a body that a
   * JSON body parser read already is used as it is. Its span, "check-back
   * answer", continues the message's trace from the call's traceparent.
   */
  checkHandler(): (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void {
    return (req, res) => {
      void this.serveCheck(req, res).catch((err: unknown) => {
        this.cfg.logger.error('courier: check-back handler failed', { error: errorText(err) });
        if (!res.headersSent) answer(res, 503, { status: 'UNKNOWN', detail: errorText(err) });
      });
    };
  }

  private async serveCheck(req: IncomingMessage & { body?: unknown }, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      res.writeHead(405, { Allow: 'POST', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('check-back calls are POST\n');
      return;
    }
    const id = await requestedId(req);
    if (id === undefined) {
      answer(res, 400, { status: 'UNKNOWN', detail: 'body must be JSON with a message_id' });
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of ['traceparent', 'tracestate']) {
      const v = req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    await inSpan('check-back answer', { kind: SpanKind.SERVER, attributes: { 'messaging.message.id': id } }, parentFrom(headers), async (span) => {
      try {
        const status = await this.check(id);
        span.setAttribute('courier.check.answer', status);
        answer(res, 200, { status });
      } catch (err) {
        // Never an answer derived from an error: Courier asks again.
        span.setAttribute('courier.check.answer', 'UNKNOWN');
        span.setStatus({ code: SpanStatusCode.ERROR, message: errorText(err) });
        answer(res, 503, { status: 'UNKNOWN', detail: errorText(err) });
      }
    });
  }

  /**
   * Deletes barrier rows older than retentionMs, which must outlast the
   * check-back schedule of every message still waiting for its producer (a
   * deleted committed row would be answered ROLLED_BACK): it refuses one
   * under retentionFloorMs(). The producer runs it by itself; call it
   * directly only with the background cleanup off.
   */
  async cleanup(retentionMs: number): Promise<number> {
    const floor = retentionFloorMs();
    if (!(retentionMs >= floor)) {
      throw new Error(`producer: retention ${retentionMs} ms is under ${floor} ms; it must outlast every check-back schedule`);
    }
    return this.db.exec(`DELETE FROM ${this.cfg.table} WHERE created_at < ${params(this.db.dialect, 1)}`, [Date.now() - retentionMs]);
  }

  /**
   * Starts a background cleanup with the configured retention if none ran
   * within cleanupEveryMs. It runs from the calls a service makes anyway, so
   * a service needs no job (and no timer keeps the process alive); several
   * instances cleaning one table at once delete the same rows, harmlessly.
   */
  private cleanupSoon(): void {
    if (this.cfg.retentionMs < 0 || this.cleanupRunning || Date.now() - this.lastCleanup < this.cfg.cleanupEveryMs) return;
    this.cleanupRunning = true;
    this.lastCleanup = Date.now();
    this.cleanup(this.cfg.retentionMs)
      .then((n) => {
        if (n > 0) this.cfg.logger.debug('courier: barrier rows past the retention deleted', { table: this.cfg.table, rows: n });
      })
      .catch((err: unknown) => {
        this.cfg.logger.warn('courier: barrier table cleanup failed; it is tried again later', { table: this.cfg.table, error: errorText(err) });
      })
      .finally(() => {
        this.cleanupRunning = false;
      });
  }

  private insert(): string {
    return `INSERT INTO ${this.cfg.table} (message_id, outcome, created_at) VALUES (${params(this.db.dialect, 3)})`;
  }

  /** Reads a barrier row's outcome and created_at; created_at tells the row a transaction wrote from another's. */
  private selectRow(): string {
    return `SELECT outcome, created_at FROM ${this.cfg.table} WHERE message_id = ${params(this.db.dialect, 1)}`;
  }
}

function answer(res: ServerResponse, code: number, body: { status: string; detail?: string }): void {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body) + '\n');
}

/** The message_id of a check-back request; undefined when the body has none that Courier could have sent. */
async function requestedId(req: IncomingMessage & { body?: unknown }): Promise<string | undefined> {
  let id: unknown;
  try {
    const body = req.body !== undefined && req.body !== null && typeof req.body === 'object' && !Buffer.isBuffer(req.body) ? req.body : JSON.parse(await readBody(req));
    id = (body as { message_id?: unknown }).message_id;
  } catch {
    return undefined;
  }
  return typeof id === 'string' && id !== '' && Buffer.byteLength(id) <= maxIdLen ? id : undefined;
}

/** Reads a request body of up to 64 KiB, as the Go handler does. */
function readBody(req: IncomingMessage & { body?: unknown }): Promise<string> {
  if (typeof req.body === 'string') return Promise.resolve(req.body);
  if (Buffer.isBuffer(req.body)) return Promise.resolve(req.body.toString('utf8'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > 64 << 10) {
        reject(new Error('body over 64 KiB'));
        req.destroy();
        return;
      }
      chunks.push(b);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
