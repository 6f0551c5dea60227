import type { Document } from 'mongodb';
import { canonicalKey } from '../canonical.js';
import type { ChangeEvent } from './mapEvent.js';

/**
 * The stream's server-side filter: events of the watched collections, renames into them, and
 * the database-wide events that have no `ns.coll` (dropDatabase, invalidate).
 */
export function watchFilter(collections: string[]): Document {
  return {
    $or: [
      { 'ns.coll': { $in: collections } },
      { 'to.coll': { $in: collections } },
      { operationType: { $in: ['dropDatabase', 'invalidate'] } },
    ],
  };
}

/** Event types that carry nothing for clients, and are not worth a debug message. */
export const QUIET = new Set([
  'drop',
  'rename',
  'dropDatabase',
  // expanded events (showExpandedEvents)
  'create',
  'createIndexes',
  'dropIndexes',
  'modify',
  'shardCollection',
  'reshardCollection',
  'refineCollectionShardKey',
]);

/** The transaction an event belongs to (its session and number), or undefined outside one. */
export function txnKey(event: ChangeEvent): string | undefined {
  const { lsid, txnNumber } = event as ChangeEvent & { lsid?: unknown; txnNumber?: unknown };
  if (lsid === undefined || txnNumber === undefined || txnNumber === null) return undefined;
  try {
    return canonicalKey({ lsid, txnNumber });
  } catch {
    return undefined;
  }
}
