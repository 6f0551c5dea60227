/** What the peer scenarios (S1, S2) send to their client processes, and what comes back. */

export type PeerSystem = 'raw' | 'particle' | 'sharedb' | 'feathers' | 'socketio';

/** Document ids each of this process's clients should hold, with the value of `n` in each. */
export type Expected = Record<string, Record<string, number>>;

export type PeerCommand =
  | {
      cmd: 'connect';
      system: PeerSystem;
      /** S1: every client follows the shared query; S2: each only its own documents. */
      scenario: 'S1' | 'S2';
      url: string;
      /** One user id per client this process opens. */
      users: number[];
    }
  | { cmd: 'progress'; everyMs: number }
  /** Zeroes the measured counters (received, bytes, CPU), not the totals. */
  | { cmd: 'reset' }
  | { cmd: 'report' }
  /** Compares every client's data with `expected[userId]` (its document ids and `n`). */
  | { cmd: 'check'; expected: Expected }
  | { cmd: 'close' };

export type PeerReply =
  | { ev: 'connected'; ready: number }
  | { ev: 'progress'; total: number }
  | { ev: 'ok' }
  | {
      ev: 'report';
      /** Since the last reset: updates delivered, bytes of frames received, CPU in µs. */
      received: number;
      bytes: number;
      cpuUs: number;
    }
  | {
      ev: 'checked';
      /** Updates that repeated or went back on a value the client had already seen. */
      duplicated: number;
      /** Values a client skipped over (an update it never got). */
      dropped: number;
      /** Clients whose final data differs from the server's (or holds another's document). */
      wrong: number;
      total: number;
    }
  | { ev: 'error'; message: string };

export type PeerEnvelope<T> = T & { id: number };
