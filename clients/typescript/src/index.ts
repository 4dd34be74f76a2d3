// @courier-mq/client: Courier's reliable-message client for Node.js.
export * from './errors';
export * from './policy';
export * from './client';
export * from './logger';
export * from './database';
export * from './producer';
export { pgDatabase } from './pg';
export { mysqlDatabase } from './mysql';
export { sqliteDatabase } from './sqlite';
export * from './consumer';
export { currentTraceContext, extractTraceContext, withTraceContext } from './tracecontext';
export type { TraceContext } from './tracecontext';
