import { opFromWire, type Op, type WireOp } from '../../src/protocol/index.js';

/**
 * What tests read from a server: a delta's ops as op objects (`opFromWire`), so tests state ops
 * by name. The wire form itself is tested in test/protocol.
 */
export function opsOf(message: unknown): Op[] {
  const ops = (message as { ops?: WireOp[] }).ops;
  return ops === undefined ? [] : ops.map(opFromWire);
}

/** `message` with each delta's ops as op objects, inside batches too. */
export function withOpObjects<T>(message: T): T {
  const m = message as { type?: unknown; messages?: unknown[] };
  if (m.type === 'batch' && Array.isArray(m.messages)) {
    return { ...m, messages: m.messages.map(withOpObjects) } as T;
  }
  if (m.type !== 'delta') return message;
  return { ...m, ops: opsOf(m) } as T;
}
