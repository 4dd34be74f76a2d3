// A real `courier dev` for the tests, as client/internal/devcourier does for
// the Go client: built from this checkout, started as its own process on
// free ports with the same fast policy (first check-back after a second,
// resends two seconds apart), stopped at the end.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { Client, Status, View } from '../src/client';
import { Logger } from '../src/logger';

export interface DevCourier {
  url: string;
  kafka: string;
  client: Client;
  log(): string;
  stop(): Promise<void>;
}

/** The Courier checkout: clients/typescript/dist/test -> the repository root. */
export const repoRoot = resolve(__dirname, '..', '..', '..', '..');

let built: string | undefined;

/**
 * The courier binary, built once per test process (the Go build cache makes
 * later builds quick). COURIER_BIN names one built already, as ci.sh does.
 */
export function courierBinary(): string {
  if (process.env.COURIER_BIN) return process.env.COURIER_BIN;
  if (built === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'courier-bin-'));
    built = join(dir, 'courier');
    execFileSync('go', ['build', '-o', built, './cmd/courier'], { cwd: repoRoot, stdio: 'inherit' });
  }
  return built;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no port'))));
    });
  });
}

/** Starts courier dev in a new temporary directory; a port taken in between is tried again, as devcourier does. */
export async function startCourier(extra: string[] = []): Promise<DevCourier> {
  const bin = courierBinary();
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(bin, extra);
    } catch (err) {
      if (attempt === 3 || !String(err).includes('address already in use')) throw err;
    }
  }
}

async function startOnce(bin: string, extra: string[]): Promise<DevCourier> {
  const dir = mkdtempSync(join(tmpdir(), 'courier-dev-'));
  const [http, temporal, kafka] = [await freePort(), await freePort(), await freePort()];
  const args = [
    'dev',
    '--data-dir', join(dir, 'data'),
    '--no-ui',
    '--http-addr', `127.0.0.1:${http}`,
    '--temporal-port', String(temporal),
    '--kafka-port', String(kafka),
    '--worker-stop-timeout', '1s',
    '--check-delay', '1s',
    '--check-max-delay', '2s',
    '--check-timeout', '2s',
    '--resend-intervals', '2s,2s,2s',
    '--log-level', 'warn',
    ...extra,
  ];
  let out = '';
  const proc: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  let gone = false;
  void exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${http}`;
  const stop = async (): Promise<void> => {
    if (!gone) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (gone) {
      await stop();
      throw new Error(`courier dev exited before it became ready:\n${out}`);
    }
    try {
      const r = await fetch(url + '/readyz');
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`courier dev did not become ready:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, kafka: `127.0.0.1:${kafka}`, client: new Client({ url }), log: () => out, stop };
}

/**
 * The courier dev of a test file: started before its tests, stopped after
 * them. Its fields are set once the file's before hooks have run.
 */
export function courierForFile(): DevCourier {
  const courier = {} as DevCourier;
  before(async () => {
    Object.assign(courier, await startCourier());
  });
  after(async () => {
    await courier.stop();
  });
  return courier;
}

/** A tag of this test process for topics and ids, so runs against one database do not meet. */
export const run = randomBytes(3).toString('hex');

/** A logger that drops everything, for the tests' producers and consumers. */
export const quiet: Logger = { debug: () => {}, warn: () => {}, error: () => {} };

/** Polls message id until its status is want, for up to 30 s. */
export async function waitStatus(c: Client, id: string, want: Status): Promise<View> {
  const deadline = Date.now() + 30_000;
  let last = '';
  for (;;) {
    try {
      const v = await c.get(id);
      if (v.status === want) return v;
      last = v.status;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > deadline) throw new Error(`message ${id}: want ${want}, have ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
