import type { DataSource, Doc } from '../../src/server/index.js';

/** The seed's data model: users, their stuff through a join collection, colors and things. */
export function seedCollections(): Record<string, Doc[]> {
  return {
    users: [
      {
        _id: 1,
        name: 'Ann',
        accountId: 1,
        email: 'ann@example.com',
        address: { state: 'CA', city: 'SF' },
      },
      {
        _id: 2,
        name: 'Ben',
        accountId: 1,
        email: 'ben@example.com',
        address: { state: 'NY', city: 'NYC' },
      },
      {
        _id: 3,
        name: 'Cid',
        accountId: 2,
        email: 'cid@example.com',
        address: { state: 'TX', city: 'Austin' },
      },
    ],
    stuffs: [
      { _id: 10, name: 'lamp', price: 20 },
      { _id: 11, name: 'desk', price: 200 },
      { _id: 12, name: 'rug', price: 80 },
    ],
    userstuffs: [
      { _id: 100, userId: 1, stuffId: 10 },
      { _id: 101, userId: 1, stuffId: 11 },
      { _id: 102, userId: 2, stuffId: 12 },
    ],
    colors: [
      { _id: 'c1', name: 'red' },
      { _id: 'c2', name: 'blue' },
    ],
    things: [
      { _id: 1000, colorId: 'c1', name: 'apple' },
      { _id: 1001, colorId: 'c2', name: 'sky' },
      { _id: 1002, colorId: 'c1', name: 'cherry' },
    ],
  };
}

/** The seed's data sources, plus a lookup-by-string source. */
export const seedDataSources: Record<string, DataSource> = {
  myProfile: { collection: 'users', criteria: { _id: '@userId' }, manifest: true },
  myStuff: {
    collection: 'stuffs',
    criteria: { _id: '@userId|users._id>userstuffs._id>stuffs._id' },
    manifest: true,
  },
  visibleUsers: {
    collection: 'users',
    criteria: { accountId: '@accountId' },
    manifest: { name: true, _id: true },
  },
  notFound: { collection: 'users', criteria: { notFound: true }, manifest: true },
  allUsers: { collection: 'users', criteria: undefined, manifest: true },
  redThings: {
    collection: 'things',
    criteria: { colorId: 'red|colors.name>colors._id' },
    manifest: true,
  },
};

export const seedCacheConfig = { userstuffs: { userId: 'users._id', stuffId: 'stuffs._id' } };
