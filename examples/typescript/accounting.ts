// Accounting, the downstream example service in TypeScript (the Go one is
// examples/accounting): it books one voucher per payment Courier delivers,
// exactly once, in its own SQLite database.
//
//	npm --prefix examples/typescript ci && npm --prefix examples/typescript run build
//	node examples/typescript/dist/accounting.js   # against `courier dev` (Kafka on 127.0.0.1:9092)
//
// Every setting is a flag or, when the flag is not given, an environment
// variable, as in the Go one: ACCOUNTING_DB, COURIER_URL,
// COURIER_KAFKA_BROKERS and COURIER_API_KEY; -h lists them. The database
// defaults to a file in the user's cache directory, never the source tree,
// and is printed at start.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { Client, Consumer, sqliteDatabase } from '@courier-mq/client';

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), {
    db: { env: 'ACCOUNTING_DB', value: dataFile('accounting.db'), usage: 'SQLite database file' },
    courier: { env: 'COURIER_URL', value: 'http://127.0.0.1:8080', usage: 'Courier gateway' },
    kafka: { env: 'COURIER_KAFKA_BROKERS', value: '127.0.0.1:9092', usage: 'Kafka brokers, comma-separated' },
    'api-key': { env: 'COURIER_API_KEY', value: '', usage: 'Courier API key, consumer role' },
  });
  mkdirSync(dirname(flags.db), { recursive: true });
  // WAL and a busy timeout: a kill -9 at any moment leaves a database the
  // next start opens.
  const db = new Database(flags.db);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec('CREATE TABLE IF NOT EXISTS vouchers (order_id TEXT PRIMARY KEY, message_id TEXT NOT NULL, amount INTEGER NOT NULL)');

  // Courier: a client for the completes, and a consumer whose dedupe table
  // is in this database.
  const payments = new Consumer({
    brokers: flags.kafka.split(','), topics: ['payments'], name: 'accounting',
    courier: new Client({ url: flags.courier, apiKey: flags['api-key'] }),
    db: sqliteDatabase(db),
  });
  await payments.migrate();
  const stop = new AbortController();
  process.once('SIGTERM', () => stop.abort());
  process.once('SIGINT', () => stop.abort());

  console.log(`accounting service consuming, kafka ${flags.kafka}, database ${flags.db}, courier ${flags.courier}`);
  await payments.run((tx, msg) => {
    const p = JSON.parse(String(msg.payload)) as { order_id: string; amount: number };
    tx.prepare('INSERT INTO vouchers (order_id, message_id, amount) VALUES (?, ?, ?)').run(p.order_id, msg.id, p.amount);
  }, stop.signal);
  db.close();
}

// A setting is a flag's environment variable, default and description.
interface Setting {
  env: string;
  value: string;
  usage: string;
}

// parseFlags reads Go's flag syntax (-name value, -name=value, and the same
// with two dashes), so the services in every language are started alike. A
// flag wins over its environment variable, which wins over the default; -h
// prints them all and exits.
function parseFlags<K extends string>(argv: string[], settings: Record<K, Setting>): Record<K, string> {
  const names = Object.keys(settings) as K[];
  const out = {} as Record<K, string>;
  for (const name of names) out[name] = process.env[settings[name].env] ?? settings[name].value;
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?([^=]+)(?:=(.*))?$/.exec(argv[i]);
    if (m !== null && ['h', 'help'].includes(m[1])) {
      console.log(`Usage of accounting:\n${names.map((n) => `  -${n} string\n    \t${settings[n].usage} (${settings[n].env}) (default "${settings[n].value}")`).join('\n')}`);
      process.exit(0);
    }
    if (m === null || !names.includes(m[1] as K)) throw new Error(`unknown flag ${argv[i]}; flags: ${names.map((k) => '-' + k).join(' ')}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`flag -${m[1]} needs a value`);
    out[m[1] as K] = value;
  }
  return out;
}

// dataFile is name in courier-examples/ under the user's cache directory,
// where Go's os.UserCacheDir puts it (the temporary directory if there is
// none): started from a checkout, the service must not write into it.
function dataFile(name: string): string {
  const home = process.env.HOME;
  let base: string | undefined;
  if (process.platform === 'win32') base = process.env.LOCALAPPDATA;
  else if (process.platform === 'darwin') base = home && join(home, 'Library', 'Caches');
  else base = process.env.XDG_CACHE_HOME || (home && join(home, '.cache'));
  return join(base || tmpdir(), 'courier-examples', name);
}

main().catch((err: unknown) => {
  console.error('accounting:', err);
  process.exit(1);
});
