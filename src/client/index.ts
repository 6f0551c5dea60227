export { Collector } from './collector.js';
export { COLLECTOR_DEFAULTS } from './options.js';
export type {
  CollectorData,
  CollectorEvent,
  CollectorListener,
  CollectorNotice,
  CollectorOptions,
  CollectorStatus,
  NoticeListener,
  ReadyCallback,
  ReadyOptions,
  ReconnectOptions,
  RegisterTransport,
  WebSocketClass,
  WebSocketLike,
} from './types.js';
export { ParticleError } from '../protocol/index.js';
export type { Doc, Id, ParticleErrorCode } from '../protocol/index.js';
