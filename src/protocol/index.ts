export * from './messages.js';
export * from './errors.js';
export * from './path.js';
export * from './parse.js';
export * from './subscriptionKey.js';
