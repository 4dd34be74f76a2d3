// The downstream half of Courier's reliable-message pattern, a port of the
// Go client's client/consumer over a kafkajs consumer group: each Courier
// message goes to the handler exactly once per consumer, in a transaction
// of the consumer's own database, and is then completed.
//
// Per record, in one transaction: insert a dedupe row (consumer, message
// id); when it exists already the message was processed before (Courier
// re-sends until it hears complete) and the handler is skipped; else the
// handler runs with the transaction; commit. Then complete, retried by the
// client; if it still fails, Courier re-sends the message, the dedupe row
// skips the handler and the complete is tried again. A handler failing
// `attempts` times is passed over (Courier re-sends; a message never
// completed ends DEAD); records without courier-message-id are not
// Courier's and are passed over. Offsets are committed only for records
// handled or passed over.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Consumer as KafkaConsumer, ConsumerConfig as KafkaConsumerConfig, EachMessagePayload, Kafka, KafkaConfig } from 'kafkajs';
import { Answer } from './client';
import { Database, checkTable, createIndex, exactKeys, keyType, params } from './database';
import { ConflictError, ForbiddenError, UnauthorizedError } from './errors';
import { Logger, consoleLogger, errorText } from './logger';
import { inSpan, parentFrom } from './tracecontext';
import { defaultPolicy, resendSpanMs } from './policy';

/** Kafka record headers Courier sets. */
export const HEADER_MESSAGE_ID = 'courier-message-id';
export const HEADER_ATTEMPT = 'courier-attempt';

/** What the consumer calls of Courier's API; a Client is one. */
export interface Completer {
  complete(id: string, consumer?: string): Promise<Answer>;
}

/** One Courier message as the handler gets it. */
export interface ConsumedMessage {
  id: string;
  topic: string;
  key: Buffer | null;
  payload: Buffer | null;
  headers: Record<string, string>;
  /** courier-attempt: 1 for the first send, 2, 3, ... for resends. */
  attempt: number;
  partition: number;
  offset: string;
}

/** Processes one message in tx (the driver's connection in the transaction). A throw rolls tx back. */
export type Handler<Tx> = (tx: Tx, msg: ConsumedMessage) => Promise<void> | void;

/** Shapes a Consumer. */
export interface ConsumerConfig<Tx> {
  /** The Kafka bootstrap brokers. */
  brokers: string[];
  /** The topics read. */
  topics: string[];
  /**
   * The consumer group and the consumer's name in its completes (a message
   * naming its consumers must name this one). With API keys it must be the
   * consumer key's name.
   */
  name: string;
  /** Receives the completes. Required. */
  courier: Completer;
  /** Holds the dedupe table and the handler's own tables. Required. */
  db: Database<Tx>;
  /** The dedupe table's name. Default DEFAULT_DEDUPE_TABLE. */
  table?: string;
  /** How many times a failing handler is tried for one delivery before the record is passed over. Default 3. */
  attempts?: number;
  /** Tunes the kafkajs client (clientId, ssl, sasl, logLevel, ...); brokers come from brokers. */
  kafka?: Omit<KafkaConfig, 'brokers'>;
  /**
   * Tunes the group membership; groupId comes from name. Default: the Go
   * consumer's timing, a 10 s session timeout, a 20 s rebalance timeout and
   * a 3 s heartbeat (kafkajs's own are 30 s and 60 s), so that a crashed
   * member's partitions move on after 10 s, not 30 s.
   */
  group?: Omit<KafkaConsumerConfig, 'groupId'>;
  /** Default console. */
  logger?: Logger;
  /**
   * How long dedupe rows are kept; run deletes older ones once per
   * cleanupEveryMs while it runs. A row deleted while Courier may still
   * resend its message lets the resend run the handler again, so the
   * constructor refuses one under consumerRetentionFloorMs(). Default a
   * week; negative turns the cleanup off.
   */
  retentionMs?: number;
  /** The time between two cleanups. Default an hour. */
  cleanupEveryMs?: number;
}

/** The dedupe table's default name, shared with the Go client. */
export const DEFAULT_DEDUPE_TABLE = 'courier_dedupe';

/** How long dedupe rows are kept by default. */
export const DEFAULT_DEDUPE_RETENTION_MS = 7 * 24 * 3600_000;

/** The shortest retention cleanup and the constructor accept: the default resend schedule (1 h 53 min) plus a day for a consumer lagging behind its topic. */
export function consumerRetentionFloorMs(): number {
  return resendSpanMs(defaultPolicy()) + 24 * 3600_000;
}

/** The longest id or consumer name the dedupe table holds. */
const maxKeyLen = 128;

/** The DDL of the dedupe table: the Go client's consumer.Migrate's, so services in several languages share it. */
export function dedupeSchema(d: Database<unknown>['dialect'], table: string): string {
  const key = keyType(d, maxKeyLen);
  return `CREATE TABLE IF NOT EXISTS ${table} (
	consumer ${key} NOT NULL,
	message_id ${key} NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (consumer, message_id)
)`;
}

/** Reads Courier messages. */
export class Consumer<Tx> {
  private readonly table: string;
  private readonly attempts: number;
  private readonly logger: Logger;
  private readonly retentionMs: number;
  private readonly cleanupEveryMs: number;

  constructor(private readonly cfg: ConsumerConfig<Tx>) {
    const errs: string[] = [];
    if (!cfg.brokers?.length || !cfg.topics?.length || !cfg.name) errs.push('consumer: brokers, topics and a name are required');
    if (!cfg.courier || !cfg.db) errs.push('consumer: courier and a database are required');
    if (errs.length > 0) throw new Error(errs.join('; '));
    this.table = cfg.table || DEFAULT_DEDUPE_TABLE;
    checkTable(this.table);
    this.attempts = cfg.attempts && cfg.attempts > 0 ? cfg.attempts : 3;
    this.logger = cfg.logger ?? consoleLogger;
    this.retentionMs = cfg.retentionMs || DEFAULT_DEDUPE_RETENTION_MS;
    if (this.retentionMs > 0 && this.retentionMs < consumerRetentionFloorMs()) {
      throw new Error(`consumer: retentionMs ${this.retentionMs} is under ${consumerRetentionFloorMs()}: a dedupe row deleted while its message may come again lets the handler run twice`);
    }
    this.cleanupEveryMs = cfg.cleanupEveryMs && cfg.cleanupEveryMs > 0 ? cfg.cleanupEveryMs : 3600_000;
  }

  /** Creates the dedupe table unless it exists, and makes the keys of a MySQL table made by an earlier version compare exactly. */
  async migrate(): Promise<void> {
    const d = this.cfg.db.dialect;
    for (const stmt of [dedupeSchema(d, this.table), createIndex(d, `${this.table}_created`, this.table, 'created_at')]) {
      if (stmt !== '') await this.cfg.db.exec(stmt);
    }
    await exactKeys(this.cfg.db as Database<unknown>, this.table, maxKeyLen, 'consumer', 'message_id');
  }

  /**
   * Consumes until signal ends, then commits the offsets of what it handled
   * and resolves; or rejects with the error that stopped it (kafkajs gave
   * up on the group).
   */
  async run(handler: Handler<Tx>, signal?: AbortSignal): Promise<void> {
    // kafkajs is loaded here, not at import: a producer-only service need
    // not install it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Kafka: KafkaClass, logLevel } = require('kafkajs') as typeof import('kafkajs');
    const kafka: Kafka = new KafkaClass({ clientId: this.cfg.name, logLevel: logLevel.ERROR, ...this.cfg.kafka, brokers: this.cfg.brokers });
    const consumer: KafkaConsumer = kafka.consumer({ sessionTimeout: 10_000, rebalanceTimeout: 20_000, heartbeatInterval: 3_000, ...this.cfg.group, groupId: this.cfg.name });
    const stopCleanup = this.cleanupEvery();
    let stopping = false;
    let fail: (err: unknown) => void = () => {};
    const crashed = new Promise<void>((_, reject) => (fail = reject));
    consumer.on(consumer.events.CRASH, (e) => {
      // kafkajs restarts the consumer itself after a retriable error;
      // one it does not restart ends run.
      if (!e.payload.restart && !stopping) fail(e.payload.error);
    });
    try {
      if (signal?.aborted) return;
      await consumer.connect();
      await consumer.subscribe({ topics: this.cfg.topics, fromBeginning: true });
      const stopped = new Promise<void>((resolve) => {
        if (signal === undefined) return;
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
      await consumer.run({
        // Offsets are committed by hand, each once its record is handled
        // or passed over, never for a record still in progress.
        autoCommit: false,
        eachMessage: async (p) => {
          if (!(await this.handle(p, handler, () => stopping))) return;
          const offset = (BigInt(p.message.offset) + 1n).toString();
          try {
            await consumer.commitOffsets([{ topic: p.topic, partition: p.partition, offset }]);
          } catch (err) {
            // The group went on without this member (it was frozen past
            // its session timeout): kafkajs wraps the coordinator's
            // UNKNOWN_MEMBER_ID in a non-retriable error that would crash
            // the consumer for good. Losing the commit is safe (the
            // partition's next owner reads the record again and its dedupe
            // row skips it), and the heartbeat after this record makes
            // kafkajs join the group again.
            this.logger.warn('courier consumer: offset commit failed; the record is read again and skipped as a duplicate', {
              consumer: this.cfg.name, topic: p.topic, partition: p.partition, offset, error: errorText(err),
            });
          }
        },
      });
      await Promise.race([stopped, crashed]);
    } finally {
      stopping = true;
      stopCleanup();
      await consumer.disconnect();
    }
  }

  /**
   * Processes one record as the file's comment says. It resolves false when
   * the consumer is stopping before the record was dealt with: its offset is
   * not committed, and the next session reads it again.
   */
  private async handle(p: EachMessagePayload, handler: Handler<Tx>, stopping: () => boolean): Promise<boolean> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(p.message.headers ?? {})) {
      if (v === undefined) continue;
      const first = Array.isArray(v) ? v[0] : v;
      headers[k] = first === undefined ? '' : first.toString();
    }
    const msg: ConsumedMessage = {
      id: headers[HEADER_MESSAGE_ID] ?? '',
      topic: p.topic,
      key: p.message.key,
      payload: p.message.value,
      headers,
      attempt: Number.parseInt(headers[HEADER_ATTEMPT] ?? '', 10) || 0,
      partition: p.partition,
      offset: p.message.offset,
    };
    const fields = { consumer: this.cfg.name, topic: p.topic, partition: p.partition, offset: p.message.offset, id: msg.id };
    if (msg.id === '') {
      this.logger.warn(`courier consumer: record without ${HEADER_MESSAGE_ID} passed over`, fields);
      return true;
    }
    // The handler and the complete run in a consumer span, "process
    // <topic>", continuing the message's trace, which Courier put in the
    // record's traceparent.
    const attributes = {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.destination.name': msg.topic,
      'messaging.destination.partition.id': String(msg.partition),
      'messaging.kafka.offset': Number(msg.offset),
      'messaging.message.id': msg.id,
      'messaging.consumer.group.name': this.cfg.name,
      'courier.send.attempt': msg.attempt,
    };
    return inSpan(`process ${msg.topic}`, { kind: SpanKind.CONSUMER, attributes }, parentFrom(headers), async (span) => {
      for (let attempt = 1; ; attempt++) {
        if (stopping()) return false;
        try {
          await this.process(msg, handler);
          break;
        } catch (err) {
          if (stopping()) return false;
          this.logger.warn('courier consumer: handler failed', { ...fields, attempt, error: errorText(err) });
          span.addEvent('handler failed', { attempt, error: errorText(err) });
          if (attempt >= this.attempts) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: errorText(err) });
            this.logger.error('courier consumer: message passed over without completing; Courier sends it again on its schedule', { ...fields, error: errorText(err) });
            return true;
          }
          await new Promise((r) => setTimeout(r, attempt * 200));
        }
      }
      try {
        await this.cfg.courier.complete(msg.id, this.cfg.name);
      } catch (err) {
        if (err instanceof ConflictError || err instanceof ForbiddenError || err instanceof UnauthorizedError) {
          // No resend changes these: the message's state, or the key.
          this.logger.error('courier consumer: complete refused', { ...fields, error: errorText(err) });
        } else {
          this.logger.warn('courier consumer: complete failed; the next resend completes it', { ...fields, error: errorText(err) });
        }
      }
      return true;
    });
  }

  /**
   * Runs handler for msg in a transaction with its dedupe row. The row is a
   * plain insert: when it fails on the key the message was processed before
   * (the insert waited for a transaction in flight that wrote it), and only
   * the complete is missing. A duplicate is known from the error, not from
   * a count of affected rows, which connection flags change.
   */
  private async process(msg: ConsumedMessage, handler: Handler<Tx>): Promise<void> {
    const db = this.cfg.db;
    const tx = await db.begin();
    try {
      try {
        await tx.exec(`INSERT INTO ${this.table} (consumer, message_id, created_at) VALUES (${params(db.dialect, 3)})`, [this.cfg.name, msg.id, Date.now()]);
      } catch (err) {
        if (db.isDuplicate(err)) return;
        throw new Error(`dedupe row: ${errorText(err)}`, { cause: err });
      }
      await handler(tx.handle, msg);
      await tx.commit();
    } finally {
      await tx.rollback(); // after a commit, a no-op
    }
  }

  /**
   * Deletes dedupe rows older than retentionMs, which must outlast the
   * resend schedule of Courier's messages: it refuses one under
   * consumerRetentionFloorMs(). run calls it by itself; call it directly
   * only with that off.
   */
  async cleanup(retentionMs: number): Promise<number> {
    const floor = consumerRetentionFloorMs();
    if (!(retentionMs >= floor)) throw new Error(`consumer: retention ${retentionMs} ms is under ${floor} ms; it must outlast every resend schedule`);
    return this.cfg.db.exec(`DELETE FROM ${this.table} WHERE created_at < ${params(this.cfg.db.dialect, 1)}`, [Date.now() - retentionMs]);
  }

  /**
   * Runs cleanup now and once per cleanupEveryMs until the returned stop is
   * called. Its timer is unref'd: it never keeps the process alive.
   */
  private cleanupEvery(): () => void {
    if (this.retentionMs < 0) return () => {};
    const once = (): void => {
      this.cleanup(this.retentionMs)
        .then((n) => {
          if (n > 0) this.logger.debug('courier consumer: dedupe rows past the retention deleted', { consumer: this.cfg.name, rows: n });
        })
        .catch((err: unknown) => this.logger.warn('courier consumer: dedupe table cleanup failed; it is tried again later', { consumer: this.cfg.name, error: errorText(err) }));
    };
    once();
    const timer = setInterval(once, this.cleanupEveryMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
