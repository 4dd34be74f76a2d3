// What the producer and the consumer report that the caller cannot act on.

/** A structured logger; console, pino and winston loggers fit (a pino logger takes the fields first: wrap it). */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** The default: console, fields as a second argument. */
export const consoleLogger: Logger = {
  debug: () => {},
  warn: (msg, fields) => console.warn(msg, fields ?? {}),
  error: (msg, fields) => console.error(msg, fields ?? {}),
};

/** The text of a thrown value, for a log line. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
