import { expect } from 'vitest';
import type { Doc, MemoryAdapter, Stream } from '../../src/server/index.js';

/**
 * What each identity may see under the seed configuration, computed directly from the
 * collections with plain loops: an oracle that shares no code with the Stream.
 */
export function seedOracle(
  collections: Record<string, Doc[]>,
  identity: Record<string, unknown>,
): Record<string, Doc[]> {
  const users = collections.users ?? [];
  const has = (field: string): boolean => Object.hasOwn(identity, field);
  const myUsers = has('userId') ? users.filter((u) => u._id === identity.userId) : [];
  const links = (collections.userstuffs ?? []).filter((l) =>
    myUsers.some((u) => u._id === l.userId),
  );
  const redIds = (collections.colors ?? []).filter((c) => c.name === 'red').map((c) => c._id);
  const json = (docs: Doc[]): Doc[] => JSON.parse(JSON.stringify(docs)) as Doc[];
  return {
    myProfile: json(myUsers),
    myStuff: json((collections.stuffs ?? []).filter((s) => links.some((l) => l.stuffId === s._id))),
    visibleUsers: json(
      has('accountId')
        ? users
            .filter((u) => u.accountId === identity.accountId)
            .map((u) => ({ _id: u._id, ...(u.name !== undefined ? { name: u.name } : {}) }))
        : [],
    ),
    notFound: json(users.filter((u) => u.notFound === true)),
    allUsers: json(users),
    redThings: json((collections.things ?? []).filter((t) => redIds.includes(t.colorId))),
  };
}

/** Sorts every root by id so that views can be compared whatever their arrival order. */
export function byId(view: Record<string, readonly Doc[]>): Record<string, Doc[]> {
  const out: Record<string, Doc[]> = {};
  for (const [root, docs] of Object.entries(view)) {
    out[root] = [...docs].sort((a, b) => String(a._id).localeCompare(String(b._id)));
  }
  return out;
}

/**
 * Checks invariant S1 for every identity: the Stream's snapshot equals the oracle over the
 * adapter's current collections, and the collector converges to it.
 */
export async function expectConverged(
  adapter: MemoryAdapter,
  stream: Stream,
  identities: Record<string, unknown>[],
  collectors: { data: Record<string, readonly Doc[]> }[],
  timeout: number,
): Promise<void> {
  const all: Record<string, Doc[]> = {};
  for (const name of ['users', 'stuffs', 'userstuffs', 'colors', 'things'])
    all[name] = adapter.findNow(name);
  for (const [i, identity] of identities.entries()) {
    const expected = byId(seedOracle(all, identity));
    expect(byId(await stream.snapshot(identity))).toEqual(expected);
    await expect.poll(() => byId(collectors[i]?.data ?? {}), { timeout }).toEqual(expected);
  }
}
