import { Compile } from 'typebox/compile';
import { describe, expect, it } from 'vitest';
import {
  joinPath,
  opFromWire,
  opToWire,
  parseClientMessage,
  parseServerMessage,
  schemas,
  splitPath,
  type Op,
  type ServerMessage,
} from '../../src/protocol/index.js';

const valid: ServerMessage[] = [
  { type: 'registered', session: 's1' },
  { type: 'error', code: 'bad_message', message: 'no' },
  {
    type: 'manifest',
    sources: { users: { name: true, address: { state: true } }, all: true },
    options: { users: { idField: 'uid', sort: { name: 1, _id: -1 } } },
  },
  { type: 'payload', root: 'users', epoch: 'e', version: 0, data: [{ _id: 1 }] },
  { type: 'resumed', root: 'users', epoch: 'e', version: 3 },
  {
    type: 'delta',
    root: 'users',
    epoch: 'e',
    version: 4,
    timestamp: Date.UTC(2026, 0, 1),
    ops: [
      ['insert', 1, { _id: 1 }],
      ['remove', 'a'],
      ['set', 1, 'address.state', 'CA'],
      ['unset', 1, 'address'],
    ],
  },
  { type: 'heartbeat' },
  { type: 'publish_error', pub: 'p1', code: 'publish_conflict', message: 'taken' },
];

describe('server messages', () => {
  it.each(valid.map((m) => [m.type, m] as const))(
    'a valid %s parses, from text or object',
    (_t, m) => {
      expect(parseServerMessage(JSON.stringify(m))).toEqual({ ok: true, message: m });
      expect(parseServerMessage(m)).toEqual({ ok: true, message: m });
    },
  );

  it.each([
    ['not JSON', '{', /JSON/],
    ['an array', '[]', /object/],
    ['an unknown type', { type: 'hello' }, /unknown message type/],
    ['a negative version', { type: 'resumed', root: 'r', epoch: 'e', version: -1 }, /version/],
    ['a manifest with false', { type: 'manifest', sources: { u: { name: false } } }, /sources/],
    ['a bad op', { ...valid[5], ops: [['move', 1]] }, /ops/],
    ['an op with named keys', { ...valid[5], ops: [{ operation: 'remove', id: 1 }] }, /ops/],
    ['a set without its value', { ...valid[5], ops: [['set', 1, 'name']] }, /ops/],
    ['an op with one item too many', { ...valid[5], ops: [['remove', 1, 'x']] }, /ops/],
    ['an ISO timestamp', { ...valid[5], timestamp: '2026-01-01T00:00:00.000Z' }, /timestamp/],
    ['a timestamp past what a Date holds', { ...valid[5], timestamp: 1e16 }, /timestamp/],
    ['a payload document that is not an object', { ...valid[3], data: [1] }, /data\/0/],
    ['a payload without data', { type: 'payload', root: 'r', epoch: 'e', version: 0 }, /data/],
  ])('%s is refused with a reason', (_name, raw, reason) => {
    const result = parseServerMessage(raw);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.error).toMatch(reason);
  });
});

describe('client messages', () => {
  it('register, with and without resume', () => {
    const plain = { type: 'register', protocol: 2, identity: { userId: 1 } };
    const resume = {
      ...plain,
      resume: { session: 's', roots: { users: { epoch: 'e', version: 2 } } },
    };
    expect(parseClientMessage(JSON.stringify(plain))).toEqual({ ok: true, message: plain });
    expect(parseClientMessage(resume)).toEqual({ ok: true, message: resume });
  });

  it.each([
    ['identity not an object', { type: 'register', protocol: 2, identity: 'me' }],
    ['no protocol', { type: 'register', identity: {} }],
    ['a server message', { type: 'heartbeat' }],
    [
      'a fractional version',
      {
        type: 'register',
        protocol: 2,
        identity: {},
        resume: { session: 's', roots: { u: { epoch: 'e', version: 1.5 } } },
      },
    ],
  ])('%s is refused', (_name, raw) => {
    expect(parseClientMessage(raw).ok).toBe(false);
  });
});

describe('JSON Schemas', () => {
  it('are exported for every message type and validate the same messages', () => {
    expect(Object.keys(schemas).sort()).toEqual(
      [
        'batch',
        'delta',
        'error',
        'mutate',
        'mutated',
        'heartbeat',
        'lease',
        'lock',
        'lock_error',
        'locked',
        'manifest',
        'manifestValue',
        'op',
        'payload',
        'publish',
        'publish_error',
        'unpublish',
        'register',
        'registered',
        'resumed',
        'subscribe',
        'subscribed',
        'subscription_error',
        'unsubscribe',
        'unlock',
        'unsubscribed',
      ].sort(),
    );
    for (const message of valid) {
      expect(Compile(schemas[message.type]).Check(message)).toBe(true);
    }
    expect(Compile(schemas.payload).Check({ ...valid[3], data: [1] })).toBe(false);
    expect(JSON.parse(JSON.stringify(schemas.delta))).toMatchObject({
      type: 'object',
      required: expect.any(Array),
    });
  });
});

describe('mutations on the wire', () => {
  it('a mutate needs an id of the form <client id>:<seq>', () => {
    const ok = parseClientMessage({ type: 'mutate', id: 'k3f9:17', name: 'post', args: { a: 1 } });
    expect(ok.ok).toBe(true);
    for (const id of ['k3f9', ':1', 'a:b', 'a b:1', `${'x'.repeat(65)}:1`]) {
      expect(parseClientMessage({ type: 'mutate', id, name: 'post' }).ok).toBe(false);
    }
    expect(parseClientMessage({ type: 'mutate', id: 'a:1', name: '' }).ok).toBe(false);
  });

  it('a batch is checked message by message and may not nest', () => {
    const delta = { type: 'delta', root: 'r', epoch: 'e', version: 1, timestamp: 0, ops: [] };
    const good = parseServerMessage({
      type: 'batch',
      messages: [delta, { type: 'mutated', id: 'a:1', result: 3 }],
    });
    expect(good).toEqual({
      ok: true,
      message: { type: 'batch', messages: [delta, { type: 'mutated', id: 'a:1', result: 3 }] },
    });
    const bad = parseServerMessage({ type: 'batch', messages: [delta, { ...delta, version: 0 }] });
    expect(bad).toMatchObject({ ok: false, error: expect.stringContaining('/messages/1') });
    expect(
      parseServerMessage({ type: 'batch', messages: [{ type: 'batch', messages: [] }] }),
    ).toMatchObject({ ok: false });
    expect(parseServerMessage({ type: 'batch', messages: 'x' })).toMatchObject({ ok: false });
  });

  it('mutated carries a result or an error with a code in the pattern', () => {
    expect(parseServerMessage({ type: 'mutated', id: 'a:1' }).ok).toBe(true);
    expect(
      parseServerMessage({
        type: 'mutated',
        id: 'a:1',
        error: { code: 'forbidden', message: 'no' },
      }).ok,
    ).toBe(true);
    expect(
      parseServerMessage({ type: 'mutated', id: 'a:1', error: { code: 'Bad Code', message: 'no' } })
        .ok,
    ).toBe(false);
  });
});

describe('wire ops', () => {
  it('each op has one array form, and turns back into the same op', () => {
    const ops: Op[] = [
      { operation: 'insert', id: 1, data: { _id: 1, name: 'Ann' } },
      { operation: 'remove', id: 'a' },
      { operation: 'set', id: 1, path: 'address.state', data: null },
      { operation: 'unset', id: 'a', path: 'tags.0' },
    ];
    const wire = ops.map(opToWire);
    expect(wire).toEqual([
      ['insert', 1, { _id: 1, name: 'Ann' }],
      ['remove', 'a'],
      ['set', 1, 'address.state', null],
      ['unset', 'a', 'tags.0'],
    ]);
    const parsed = parseServerMessage(
      JSON.stringify({ type: 'delta', root: 'r', epoch: 'e', version: 1, timestamp: 0, ops: wire }),
    );
    expect(parsed.ok).toBe(true);
    const back =
      parsed.ok && parsed.message.type === 'delta' ? parsed.message.ops.map(opFromWire) : [];
    expect(back).toEqual(ops);
  });
});

describe('paths', () => {
  it('split and join dotted paths; the array form keeps ids with dots', () => {
    expect(splitPath('users.7.name')).toEqual(['users', '7', 'name']);
    expect(splitPath(['users', 'a.b', 'name'])).toEqual(['users', 'a.b', 'name']);
    expect(splitPath('')).toEqual([]);
    expect(joinPath(['users', 7, 'name'])).toBe('users.7.name');
  });
});
