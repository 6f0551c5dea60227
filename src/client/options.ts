import { checkKeys } from '../protocol/config.js';
import type { FrameLimits } from './docPaths.js';
import type {
  CollectorOptions,
  ReadyOptions,
  ReconnectOptions,
  RegisterTransport,
  WebSocketClass,
} from './types.js';

/** The defaults of {@link CollectorOptions}, in one place. */
export const COLLECTOR_DEFAULTS = {
  reconnect: { minDelayMs: 250, maxDelayMs: 10_000 },
  heartbeatTimeoutMs: 45_000,
  connectTimeoutMs: 10_000,
  maxDepth: 100,
  maxArrayGap: 1000,
  mutationTimeoutMs: 30_000,
  publishIntervalMs: 100,
} as const;

/** Every key `new Collector` accepts. */
export const COLLECTOR_KEYS = [
  'url',
  'identity',
  'WebSocket',
  'register',
  'onDebug',
  'reconnect',
  'heartbeatTimeoutMs',
  'connectTimeoutMs',
  'maxDepth',
  'maxArrayGap',
  'mutationTimeoutMs',
  'publishIntervalMs',
] as const satisfies readonly (keyof CollectorOptions)[];

const RECONNECT_KEYS = [
  'minDelayMs',
  'maxDelayMs',
] as const satisfies readonly (keyof ReconnectOptions)[];

/** Options after validation and defaults: one of the two transports, fully specified. */
export type ResolvedOptions = {
  identity: Record<string, unknown>;
  onDebug: (message: string, detail?: unknown) => void;
  /** Whether the user gave `onDebug` (listener errors go to `console.error` otherwise). */
  debugGiven: boolean;
  reconnect: ReconnectOptions;
  heartbeatTimeoutMs: number;
  connectTimeoutMs: number;
  mutationTimeoutMs: number;
  publishIntervalMs: number;
  limits: FrameLimits;
  transport:
    | { kind: 'socket'; url: string; WebSocket: WebSocketClass }
    | { kind: 'register'; register: RegisterTransport };
};

const noop = (): void => {};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new TypeError(`Collector: ${name} must be a finite number >= 0, got ${String(value)}`);
  }
  return value;
}

function integer(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new TypeError(`Collector: ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** `onDebug` that never throws: diagnostics must not break what they describe. */
function safeDebug(
  onDebug: (message: string, detail?: unknown) => void,
): (message: string, detail?: unknown) => void {
  return (message, detail) => {
    try {
      onDebug(message, detail);
    } catch {
      // Nowhere left to report it.
    }
  };
}

/**
 * Turns the `url` option into an absolute ws:/wss: URL. A relative url resolves against
 * `globalThis.location` (ws: from http:, wss: from https:).
 */
export function resolveUrl(url: string): string {
  const location = (globalThis as { location?: { href?: unknown } }).location;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    if (typeof location?.href !== 'string') {
      throw new TypeError(
        `Collector: url ${JSON.stringify(url)} is relative and there is no globalThis.location ` +
          'to resolve it against; pass an absolute ws:// or wss:// url',
      );
    }
    parsed = new URL(url, location.href);
  }
  if (parsed.protocol === 'http:') parsed.protocol = 'ws:';
  else if (parsed.protocol === 'https:') parsed.protocol = 'wss:';
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new TypeError(
      `Collector: url must use ws:, wss:, http: or https:, got ${JSON.stringify(parsed.protocol)}`,
    );
  }
  return parsed.href;
}

/** Validates the user's options and spreads them over the defaults. */
export function resolveOptions(options: CollectorOptions): ResolvedOptions {
  if (!isPlainObject(options)) throw new TypeError('Collector: options must be an object');
  checkKeys('Collector', options, COLLECTOR_KEYS);
  if (isPlainObject(options.reconnect)) {
    checkKeys('Collector.reconnect', options.reconnect, RECONNECT_KEYS);
  }
  if (!isPlainObject(options.identity)) {
    throw new TypeError('Collector: identity must be a plain object, e.g. { sessionId: "…" }');
  }
  const hasUrl = options.url !== undefined;
  const hasRegister = options.register !== undefined;
  if (hasUrl === hasRegister) {
    throw new TypeError(
      'Collector: pass exactly one of `url` (a WebSocket endpoint) and `register` (a custom transport)',
    );
  }
  const reconnect = { ...COLLECTOR_DEFAULTS.reconnect, ...options.reconnect };
  nonNegative('reconnect.minDelayMs', reconnect.minDelayMs);
  nonNegative('reconnect.maxDelayMs', reconnect.maxDelayMs);
  if (reconnect.minDelayMs > reconnect.maxDelayMs) {
    throw new TypeError('Collector: reconnect.minDelayMs must not exceed reconnect.maxDelayMs');
  }
  const heartbeatTimeoutMs = nonNegative(
    'heartbeatTimeoutMs',
    options.heartbeatTimeoutMs ?? COLLECTOR_DEFAULTS.heartbeatTimeoutMs,
  );
  const connectTimeoutMs = nonNegative(
    'connectTimeoutMs',
    options.connectTimeoutMs ?? COLLECTOR_DEFAULTS.connectTimeoutMs,
  );
  const mutationTimeoutMs = nonNegative(
    'mutationTimeoutMs',
    options.mutationTimeoutMs ?? COLLECTOR_DEFAULTS.mutationTimeoutMs,
  );
  if (mutationTimeoutMs === 0) throw new TypeError('Collector: mutationTimeoutMs must be above 0');
  const publishIntervalMs = nonNegative(
    'publishIntervalMs',
    options.publishIntervalMs ?? COLLECTOR_DEFAULTS.publishIntervalMs,
  );
  const limits: FrameLimits = {
    maxDepth: integer('maxDepth', options.maxDepth ?? COLLECTOR_DEFAULTS.maxDepth, 1),
    maxArrayGap: integer('maxArrayGap', options.maxArrayGap ?? COLLECTOR_DEFAULTS.maxArrayGap, 0),
  };
  let identity: Record<string, unknown>;
  try {
    // A copy as it will travel: later changes to the caller's object must not leak into resumes.
    identity = JSON.parse(JSON.stringify(options.identity)) as Record<string, unknown>;
  } catch (error) {
    throw new TypeError('Collector: identity must be JSON-serializable', { cause: error });
  }
  const common = {
    identity,
    onDebug: options.onDebug === undefined ? noop : safeDebug(options.onDebug),
    debugGiven: options.onDebug !== undefined,
    reconnect,
    heartbeatTimeoutMs,
    connectTimeoutMs,
    mutationTimeoutMs,
    publishIntervalMs,
    limits,
  };
  if (options.register !== undefined) {
    if (typeof options.register !== 'function') {
      throw new TypeError('Collector: register must be a function (identity, receive, done)');
    }
    return { ...common, transport: { kind: 'register', register: options.register } };
  }
  if (typeof options.url !== 'string') throw new TypeError('Collector: url must be a string');
  const WebSocket =
    options.WebSocket ?? (globalThis as { WebSocket?: WebSocketClass }).WebSocket ?? undefined;
  if (typeof WebSocket !== 'function') {
    throw new TypeError(
      'Collector: there is no global WebSocket here; pass the `WebSocket` option ' +
        "(in Node: import { WebSocket } from 'ws')",
    );
  }
  return { ...common, transport: { kind: 'socket', url: resolveUrl(options.url), WebSocket } };
}

/** The `timeoutMs` of `collector.ready(...)` options, checked; `undefined` for no limit. */
export function readyTimeout(options: ReadyOptions | undefined): number | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('collector.ready: options must be an object such as { timeoutMs: 5000 }');
  }
  checkKeys('collector.ready', options, ['timeoutMs']);
  const { timeoutMs } = options;
  if (timeoutMs === undefined || timeoutMs === Infinity) return undefined;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new TypeError(
      `collector.ready: timeoutMs must be a number >= 0, got ${String(timeoutMs)}`,
    );
  }
  return timeoutMs;
}
