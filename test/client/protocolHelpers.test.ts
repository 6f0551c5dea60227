import { describe, expect, test } from 'vitest';
import { ParticleError } from '../../src/protocol/index.js';
import { truncateUtf8 } from '../../src/protocol/closeReason.js';
import { checkKeys, closestKey } from '../../src/protocol/config.js';

const bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

describe('truncateUtf8', () => {
  test('leaves a short text alone', () => {
    expect(truncateUtf8('version gap on users', 123)).toBe('version gap on users');
  });

  test('cuts by UTF-8 bytes, not UTF-16 units', () => {
    const text = 'é'.repeat(100); // 100 units, 200 bytes
    const cut = truncateUtf8(text, 123);
    expect(bytes(cut)).toBeLessThanOrEqual(123);
    expect(cut).toBe('é'.repeat(61));
  });

  test('never splits a character, astral ones included', () => {
    for (const text of ['日本語のテキスト'.repeat(10), '😀'.repeat(40), `a${'😀'.repeat(40)}`]) {
      for (let max = 0; max <= 130; max++) {
        const cut = truncateUtf8(text, max);
        expect(bytes(cut)).toBeLessThanOrEqual(max);
        expect(text.startsWith(cut)).toBe(true);
        expect(cut).toBe(Buffer.from(cut, 'utf8').toString('utf8'));
        // As long as possible: the next character would not have fit.
        const next = [...text.slice(cut.length)][0];
        if (next !== undefined) expect(bytes(cut + next)).toBeGreaterThan(max);
      }
    }
  });

  test('counts a lone surrogate as the three bytes it is sent as', () => {
    const cut = truncateUtf8('\ud800'.repeat(50), 123);
    expect(cut.length).toBe(41);
    expect(bytes(cut)).toBe(123);
  });
});

describe('checkKeys', () => {
  const allowed = ['url', 'identity', 'WebSocket', 'heartbeatTimeoutMs'] as const;

  test('an unknown key is a config error naming it and the closest valid key', () => {
    let thrown: unknown;
    try {
      checkKeys('Collector', { url: 'ws://x', identty: {} }, allowed);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ParticleError);
    expect(thrown).toMatchObject({
      code: 'config',
      message: "Collector: unknown key 'identty' (did you mean 'identity'?)",
    });
  });

  test('a key set to undefined still counts', () => {
    expect(() => checkKeys('Collector', { heartbeatTimeout: undefined }, allowed)).toThrow(
      "Collector: unknown key 'heartbeatTimeout' (did you mean 'heartbeatTimeoutMs'?)",
    );
  });

  test('known keys pass', () => {
    expect(() => checkKeys('Collector', { url: 'ws://x', identity: {} }, allowed)).not.toThrow();
  });

  test('closest key: case-insensitive, transpositions count once', () => {
    expect(closestKey('websocket', allowed)).toBe('WebSocket');
    expect(closestKey('idenitty', allowed)).toBe('identity');
    expect(closestKey('x', [])).toBeUndefined();
  });
});
