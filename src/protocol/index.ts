export * from './messages.js';
export * from './errors.js';
export * from './path.js';
export * from './parse.js';
export * from './closeReason.js';
export * from './config.js';
