// Accounting, the downstream example service in TypeScript (the Go one is
// examples/accounting): it books one voucher per payment Courier delivers,
// exactly once, in its own SQLite database.
//
//	npm --prefix examples/typescript ci && npm --prefix examples/typescript run build
//	node examples/typescript/dist/accounting.js   # against `courier dev` (Kafka on 127.0.0.1:9092)
import Database from 'better-sqlite3';
import { Client, Consumer, sqliteDatabase } from '@courier-mq/client';

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), {
    db: 'accounting.db',
    courier: 'http://127.0.0.1:8080',
    kafka: '127.0.0.1:9092',
    'api-key': process.env.COURIER_API_KEY ?? '',
  });
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

  console.log(`accounting service consuming, kafka ${flags.kafka}, courier ${flags.courier}`);
  await payments.run((tx, msg) => {
    const p = JSON.parse(String(msg.payload)) as { order_id: string; amount: number };
    tx.prepare('INSERT INTO vouchers (order_id, message_id, amount) VALUES (?, ?, ?)').run(p.order_id, msg.id, p.amount);
  }, stop.signal);
  db.close();
}

// parseFlags reads Go's flag syntax (-name value, -name=value, and the same
// with two dashes), so the services in every language are started alike.
function parseFlags<T extends Record<string, string>>(argv: string[], defaults: T): T {
  const out: Record<string, string> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?([^=]+)(?:=(.*))?$/.exec(argv[i]);
    if (m === null || !(m[1] in defaults)) throw new Error(`unknown flag ${argv[i]}; flags: ${Object.keys(defaults).map((k) => '-' + k).join(' ')}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`flag -${m[1]} needs a value`);
    out[m[1]] = value;
  }
  return out as T;
}

main().catch((err: unknown) => {
  console.error('accounting:', err);
  process.exit(1);
});
