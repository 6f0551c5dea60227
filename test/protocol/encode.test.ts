import { describe, expect, it } from 'vitest';
import {
  HEARTBEAT_FRAME,
  deltaBody,
  deltaPrefix,
  encodeDelta,
  encodeError,
  encodeManifest,
  encodePayload,
  encodeRegistered,
  encodeResumed,
} from '../../src/protocol/encode.js';
import { parseServerMessage } from '../../src/protocol/index.js';

describe('the encoder builds every server frame its schema accepts', () => {
  const root = 'we"ird\\root';
  const frames: [string, string, unknown][] = [
    ['registered', encodeRegistered('s1'), { type: 'registered', session: 's1' }],
    [
      'error',
      encodeError('bad_message', 'no "quotes" spared'),
      { type: 'error', code: 'bad_message', message: 'no "quotes" spared' },
    ],
    [
      'manifest',
      encodeManifest({ sources: { users: { name: true } }, options: { users: { idField: 'id' } } }),
      {
        type: 'manifest',
        sources: { users: { name: true } },
        options: { users: { idField: 'id' } },
      },
    ],
    ['resumed', encodeResumed(root, 'e1', 4), { type: 'resumed', root, epoch: 'e1', version: 4 }],
    ['heartbeat', HEARTBEAT_FRAME, { type: 'heartbeat' }],
    [
      'payload',
      encodePayload({ root, epoch: 'e1', version: 0 }, JSON.stringify([{ _id: 1, name: 'Ann' }])),
      { type: 'payload', root, epoch: 'e1', version: 0, data: [{ _id: 1, name: 'Ann' }] },
    ],
    [
      'delta',
      encodeDelta(deltaPrefix(root, 'e1'), 5, {
        ...deltaBody([
          { operation: 'remove', id: 1 },
          { operation: 'set', id: 'a', path: 'address.state', data: 'CA' },
        ]),
        timestamp: Date.UTC(2026, 0, 1),
      }),
      {
        type: 'delta',
        root,
        epoch: 'e1',
        version: 5,
        timestamp: Date.UTC(2026, 0, 1),
        ops: [
          ['remove', 1],
          ['set', 'a', 'address.state', 'CA'],
        ],
      },
    ],
  ];
  it.each(frames)('%s', (_type, frame, expected) => {
    expect(JSON.parse(frame)).toEqual(expected);
    const parsed = parseServerMessage(frame);
    expect(parsed.ok).toBe(true);
  });
});
