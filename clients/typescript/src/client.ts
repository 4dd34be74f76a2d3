// The typed HTTP client of Courier's gateway: client/client.go and
// client/messages.go in TypeScript, over Node's global fetch.
import { randomUUID } from 'node:crypto';
import { CourierError, UnavailableError, errorFor } from './errors';
import { Policy, goDuration } from './policy';
import { currentTraceContext } from './tracecontext';

/** Where a message is in its lifecycle; see Courier's README. */
export type Status =
  | 'WAITING_CONFIRM'
  | 'CHECK_EXHAUSTED'
  | 'SCHEDULED'
  | 'SENDING'
  | 'DELIVERED'
  | 'DEAD'
  | 'COMPLETED'
  | 'CANCELLED';

/** What a producer prepares or sends. */
export interface Message {
  /**
   * Identifies the message and is the consumers' dedupe key. Absent: prepare
   * and send make a random one and set it here, before the first attempt,
   * so that a retried call (or a retry with this object) is the same request.
   */
  id?: string;
  topic: string;
  /** The Kafka record key (its partition). */
  key?: string;
  /** The Kafka record value, sent byte for byte (a string is sent as UTF-8). */
  payload: Uint8Array | string;
  /** Added to the record next to Courier's own headers. */
  headers?: Record<string, string>;
  /** Where Courier asks whether the transaction committed (prepare only); the Producer sets it. */
  checkUrl?: string;
  /** Names the producing service. */
  producer?: string;
  /** When set, each must complete the message. */
  consumers?: string[];
  /** Delays sending the confirmed message until then. */
  deliverAt?: Date;
  /** Overrides the gateway's timing for this message. */
  policy?: Policy;
}

/** The answer to prepare and send. */
export interface Prepared {
  id: string;
  status: Status;
  /** False when the same request had been made before; status is then the message's current one. */
  created: boolean;
}

/**
 * What Courier did with a confirm, cancel, complete or redrive: "applied"
 * moved the message on, "repeated" had happened already, "accepted" was
 * taken to be acted on later (the caller is done either way).
 */
export type Outcome = 'applied' | 'repeated' | 'accepted';

/** The answer to confirm, cancel, complete and redrive. A refusal is a ConflictError instead. */
export interface Answer {
  id: string;
  /**
   * The message's status after the decision: the one an applied request moved
   * it to. A repeated or accepted request leaves it where it was
   * (previous_status); so does one applied while the message's workflow could
   * not answer in time, which acts on it when it runs.
   */
  status: Status;
  /** The status the request was decided on. */
  previous_status: Status;
  outcome: Outcome;
  /** Why the request was repeated or accepted; absent when it was applied. */
  reason?: string;
}

/** The answer to redriveDead. */
export interface RedriveResult {
  redriven: number;
  failed: { id: string; error: { code: string; message: string } }[];
}

/** A message as Courier's mirror shows it. */
export interface View {
  id: string;
  topic: string;
  key?: string;
  /** The payload as it went to Kafka. */
  payload: Buffer;
  headers?: Record<string, string>;
  producer?: string;
  checkUrl?: string;
  consumers?: string[];
  deliverAt?: Date;
  status: Status;
  checkCount: number;
  sendCount: number;
  lastError?: string;
  createdAt: Date;
  confirmedAt?: Date;
  publishedAt?: Date;
  completedAt?: Date;
  updatedAt?: Date;
  /** When the message entered its current status, as the mirror recorded it; absent from state(). */
  statusAt?: Date;
  /** Orders the message's transitions: of the mirror row, or of the workflow for state(). */
  revision?: number;
  /** "mirror"; "workflow" for state(), and while the mirror catches up. */
  source: string;
  /** The whole answer as the gateway sent it: for state(), with the workflow's record (checks, publishes, signals, next_at, ...). */
  raw: Record<string, unknown>;
}

/** Selects messages for list; absent fields do not filter. */
export interface Filter {
  status?: Status;
  topic?: string;
  producer?: string;
  /** The message's Kafka key, matched exactly. */
  key?: string;
  createdFrom?: Date;
  createdTo?: Date;
  /** The page size; absent is the gateway's default. */
  limit?: number;
  /** Fetches the page after the one that returned it. */
  cursor?: string;
}

/** One page of list. */
export interface Page {
  messages: View[];
  /** Fetches the next page; absent on the last one. */
  nextCursor?: string;
}

/** The mirror's message counts. */
export interface Stats {
  byStatus: Partial<Record<Status, number>>;
  total: number;
}

/** Shapes a Client. Absent fields take the defaults. */
export interface ClientConfig {
  /** The gateway's base URL, e.g. http://127.0.0.1:8080. Required. */
  url: string;
  /** Sent as "Authorization: Bearer <key>"; absent sends none (a gateway without keys). */
  apiKey?: string;
  /** Bounds one attempt. Default 10 s: a confirm waits for its publish. */
  timeoutMs?: number;
  /** How many times a call whose outcome is unknown is tried. Default 5; 1 disables retries. */
  attempts?: number;
  /** The wait before the second attempt, doubled before each further one (with jitter), up to maxBackoffMs. Default 200 ms and 5 s. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/** Options of one call. */
export interface CallOptions {
  /** Ends the call (and its retries); the call then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A random UUID (version 4), the id prepare and send give a message that has none. */
export function newId(): string {
  return randomUUID();
}

/**
 * Calls one Courier gateway. Every call whose outcome is unknown (no
 * answer, 429, 502, 503, 504) is retried with backoff; the retries are safe
 * because every request is idempotent, and a message without an id gets one
 * before the first attempt. Errors are CourierError subclasses.
 */
export class Client {
  private readonly base: string;
  private readonly apiKey: string;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(cfg: ClientConfig) {
    if (!cfg.url) throw new Error('courier client: url is required');
    if (!cfg.url.startsWith('http://') && !cfg.url.startsWith('https://')) {
      throw new Error(`courier client: url ${JSON.stringify(cfg.url)} must start with http:// or https://`);
    }
    this.base = cfg.url.replace(/\/+$/, '');
    this.apiKey = cfg.apiKey ?? '';
    this.timeoutMs = positive(cfg.timeoutMs, 10_000);
    this.attempts = positive(cfg.attempts, 5);
    this.backoffMs = positive(cfg.backoffMs, 200);
    this.maxBackoffMs = positive(cfg.maxBackoffMs, 5_000);
  }

  /** Stores msg as waiting for its producer's confirm (a half message). msg.checkUrl is required. A message without an id gets one, set in msg. */
  prepare(msg: Message, opts?: CallOptions): Promise<Prepared> {
    return this.prepareAt('/v1/messages', msg, opts);
  }

  /** Sends msg without a local transaction: it starts confirmed. */
  send(msg: Message, opts?: CallOptions): Promise<Prepared> {
    return this.prepareAt('/v1/messages/send', msg, opts);
  }

  /** Tells Courier the message's transaction committed: send it. */
  confirm(id: string, reason = '', opts?: CallOptions): Promise<Answer> {
    return this.decide(id, 'confirm', reason, opts);
  }

  /** Tells Courier the message's transaction rolled back: never send it. */
  cancel(id: string, reason = '', opts?: CallOptions): Promise<Answer> {
    return this.decide(id, 'cancel', reason, opts);
  }

  /** Sends a DEAD message again (admin). */
  redrive(id: string, reason = '', opts?: CallOptions): Promise<Answer> {
    return this.decide(id, 'redrive', reason, opts);
  }

  /** Tells Courier consumer has processed the message. consumer is required when the message names its consumers. */
  async complete(id: string, consumer = '', opts?: CallOptions): Promise<Answer> {
    const body: Record<string, string> = {};
    if (consumer !== '') body.consumer = consumer;
    const { value } = await this.call('POST', `/v1/messages/${encodeURIComponent(id)}/complete`, body, opts);
    return value as Answer;
  }

  /** Re-drives up to limit (0: the gateway's default) DEAD messages of topic (admin). */
  async redriveDead(topic: string, limit = 0, reason = '', opts?: CallOptions): Promise<RedriveResult> {
    const body: Record<string, unknown> = { topic };
    if (limit > 0) body.limit = limit;
    if (reason !== '') body.reason = reason;
    const { value } = await this.call('POST', '/v1/messages/redrive', body, opts);
    const r = value as { redriven?: number; failed?: RedriveResult['failed'] };
    return { redriven: r.redriven ?? 0, failed: r.failed ?? [] };
  }

  /** Returns message id from the mirror (admin, its producer, or a consumer that may complete it). */
  async get(id: string, opts?: CallOptions): Promise<View> {
    const { value } = await this.call('GET', `/v1/messages/${encodeURIComponent(id)}`, undefined, opts);
    return toView(value as WireView);
  }

  /**
   * Returns message id as its workflow knows it now: the view get returns, with the workflow's status, counts and
   * times, which the mirror may lag; its record (every check-back, publish and signal) is in raw. Same access as get.
   */
  async state(id: string, opts?: CallOptions): Promise<View> {
    const { value } = await this.call('GET', `/v1/messages/${encodeURIComponent(id)}?live=1`, undefined, opts);
    return toView(value as WireView);
  }

  /** Returns messages from the mirror, newest first. */
  async list(f: Filter = {}, opts?: CallOptions): Promise<Page> {
    const q = new URLSearchParams();
    if (f.status) q.set('status', f.status);
    if (f.topic) q.set('topic', f.topic);
    if (f.producer) q.set('producer', f.producer);
    if (f.key) q.set('key', f.key);
    if (f.createdFrom) q.set('created_from', f.createdFrom.toISOString());
    if (f.createdTo) q.set('created_to', f.createdTo.toISOString());
    if (f.limit !== undefined && f.limit > 0) q.set('limit', String(f.limit));
    if (f.cursor) q.set('cursor', f.cursor);
    const qs = q.toString();
    const { value } = await this.call('GET', '/v1/messages' + (qs ? '?' + qs : ''), undefined, opts);
    const p = value as { messages?: WireView[] | null; next_cursor?: string };
    const page: Page = { messages: (p.messages ?? []).map(toView) };
    if (p.next_cursor) page.nextCursor = p.next_cursor;
    return page;
  }

  /** The mirror's message counts by status (admin). */
  async stats(opts?: CallOptions): Promise<Stats> {
    const { value } = await this.call('GET', '/v1/stats', undefined, opts);
    const s = value as { by_status?: Stats['byStatus']; total?: number };
    return { byStatus: s.by_status ?? {}, total: s.total ?? 0 };
  }

  private async prepareAt(path: string, msg: Message, opts?: CallOptions): Promise<Prepared> {
    if (!msg.id) msg.id = newId();
    const { status, value } = await this.call('POST', path, prepareBody(msg), opts);
    const p = value as { id: string; status: Status };
    return { id: p.id, status: p.status, created: status === 201 };
  }

  private async decide(id: string, action: string, reason: string, opts?: CallOptions): Promise<Answer> {
    const body = reason !== '' ? { reason } : {};
    const { value } = await this.call('POST', `/v1/messages/${encodeURIComponent(id)}/${action}`, body, opts);
    return value as Answer;
  }

  /**
   * Sends method path with body, retrying the attempts whose outcome is
   * unknown, and returns the 2xx answer's status and decoded body.
   */
  private async call(method: string, path: string, body: unknown, opts?: CallOptions): Promise<{ status: number; value: unknown }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const signal = opts?.signal;
    let wait = this.backoffMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(method, path, payload, signal);
      } catch (err) {
        if (!(err instanceof UnavailableError) || attempt >= this.attempts) throw err;
      }
      // The jitter keeps many clients from retrying in step (the Go
      // client's formula: half the wait, plus a random part of the rest).
      await sleep(wait / 2 + Math.random() * (wait / 2), signal);
      wait = Math.min(wait * 2, this.maxBackoffMs);
    }
  }

  private async once(method: string, path: string, payload: string | undefined, signal: AbortSignal | undefined): Promise<{ status: number; value: unknown }> {
    const op = `${method} ${path}`;
    signal?.throwIfAborted();
    const attemptSignal = signal ? AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]) : AbortSignal.timeout(this.timeoutMs);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (payload !== undefined) headers['Content-Type'] = 'application/json';
    if (this.apiKey !== '') headers.Authorization = `Bearer ${this.apiKey}`;
    Object.assign(headers, currentTraceContext());
    let resp: Response;
    let raw: string;
    try {
      resp = await fetch(this.base + path, { method, headers, body: payload ?? null, signal: attemptSignal, redirect: 'manual' });
      raw = await resp.text();
    } catch (err) {
      // The caller's own signal ends the call; anything else (a refused
      // connection, the attempt's timeout) leaves the outcome unknown.
      if (signal?.aborted) throw signal.reason;
      throw errorFor(op, 0, '', errorText(err), err);
    }
    if (resp.status < 200 || resp.status > 299) {
      let code = '';
      let detail = raw.trim();
      try {
        const eb = JSON.parse(raw) as { error?: { code?: unknown; message?: unknown } };
        if (eb && eb.error && typeof eb.error.code === 'string' && eb.error.code !== '') {
          code = eb.error.code;
          detail = typeof eb.error.message === 'string' ? eb.error.message : '';
        }
      } catch {
        // Not the API's error shape (a proxy's page): the text is the detail.
      }
      throw errorFor(op, resp.status, code, detail);
    }
    try {
      return { status: resp.status, value: raw === '' ? {} : JSON.parse(raw) };
    } catch (err) {
      throw new CourierError(op, resp.status, '', `decode answer: ${errorText(err)}`, { cause: err });
    }
  }
}

function positive(v: number | undefined, def: number): number {
  return v !== undefined && v > 0 ? v : def;
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}

/** Waits ms, or rejects with the signal's reason when it ends first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function prepareBody(m: Message): Record<string, unknown> {
  const payload = typeof m.payload === 'string' ? Buffer.from(m.payload, 'utf8') : Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
  const b: Record<string, unknown> = { id: m.id, topic: m.topic, payload_base64: payload.toString('base64') };
  if (m.key) b.key = m.key;
  if (m.headers && Object.keys(m.headers).length > 0) b.headers = m.headers;
  if (m.checkUrl) b.check_url = m.checkUrl;
  if (m.producer) b.producer = m.producer;
  if (m.consumers && m.consumers.length > 0) b.consumers = m.consumers;
  if (m.deliverAt) b.deliver_at = m.deliverAt.toISOString();
  const p = m.policy;
  if (p) {
    const pb: Record<string, unknown> = {};
    if (p.checkDelayMs) pb.check_delay = goDuration(p.checkDelayMs);
    if (p.checkBackoff) pb.check_backoff = p.checkBackoff;
    if (p.checkMaxDelayMs) pb.check_max_delay = goDuration(p.checkMaxDelayMs);
    if (p.checkMaxAttempts) pb.check_max_attempts = p.checkMaxAttempts;
    if (p.checkTimeoutMs) pb.check_timeout = goDuration(p.checkTimeoutMs);
    if (p.resendIntervalsMs && p.resendIntervalsMs.length > 0) pb.resend_intervals = p.resendIntervalsMs.map(goDuration);
    if (p.publishMaxIntervalMs) pb.publish_max_interval = goDuration(p.publishMaxIntervalMs);
    b.policy = pb;
  }
  return b;
}

/** A View as the gateway sends it. */
interface WireView {
  id: string;
  topic: string;
  key?: string;
  payload?: unknown;
  payload_base64?: string;
  headers?: Record<string, string>;
  producer?: string;
  check_url?: string;
  consumers?: string[];
  deliver_at?: string;
  status: Status;
  check_count?: number;
  send_count?: number;
  last_error?: string;
  created_at: string;
  confirmed_at?: string;
  published_at?: string;
  completed_at?: string;
  updated_at?: string;
  status_at?: string;
  revision?: number;
  source?: string;
}

function toView(w: WireView): View {
  // A payload that is JSON comes as JSON, which JSON.parse does not keep as
  // text: it is re-encoded compactly (the Go client keeps the raw bytes).
  const payload =
    w.payload_base64 !== undefined
      ? Buffer.from(w.payload_base64, 'base64')
      : w.payload === undefined
        ? Buffer.alloc(0)
        : Buffer.from(JSON.stringify(w.payload), 'utf8');
  const v: View = {
    id: w.id,
    topic: w.topic,
    payload,
    status: w.status,
    checkCount: w.check_count ?? 0,
    sendCount: w.send_count ?? 0,
    createdAt: new Date(w.created_at),
    source: w.source ?? '',
    raw: w as unknown as Record<string, unknown>,
  };
  if (w.key !== undefined) v.key = w.key;
  if (w.headers !== undefined) v.headers = w.headers;
  if (w.producer !== undefined) v.producer = w.producer;
  if (w.check_url !== undefined) v.checkUrl = w.check_url;
  if (w.consumers !== undefined) v.consumers = w.consumers;
  if (w.deliver_at !== undefined) v.deliverAt = new Date(w.deliver_at);
  if (w.last_error !== undefined) v.lastError = w.last_error;
  if (w.confirmed_at !== undefined) v.confirmedAt = new Date(w.confirmed_at);
  if (w.published_at !== undefined) v.publishedAt = new Date(w.published_at);
  if (w.completed_at !== undefined) v.completedAt = new Date(w.completed_at);
  if (w.updated_at !== undefined) v.updatedAt = new Date(w.updated_at);
  if (w.status_at !== undefined) v.statusAt = new Date(w.status_at);
  if (w.revision !== undefined) v.revision = w.revision;
  return v;
}
