// @courier-mq/client: Courier's reliable-message client for Node.js.
export * from './errors';
export * from './policy';
export * from './client';
