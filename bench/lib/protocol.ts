/** A subscription a socket asks for, in the wire's `subscribe` frame. */
export interface Subscription {
  sub: string;
  source: string;
  params?: unknown;
}

/** Commands a benchmark process sends to a client process, and what comes back. */
export type ClientCommand =
  | {
      cmd: 'connect';
      url: string;
      /** One entry per socket: the identity to register with, or `null` to send nothing. */
      identities: (Record<string, unknown> | null)[];
      /**
       * One entry per socket (when given): the `subscribe` it sends right after its register,
       * or `null` for none.
       */
      subscriptions?: (Subscription | null)[];
      /** A socket counts as ready after this many `payload` frames (0: once open). */
      readyPayloads: number;
      /** Instead: a socket counts as ready once it knows its subscription's `ticks`. */
      readyTicks?: boolean;
      /** Stop reading from each socket once it is ready (a slow consumer). */
      pause: boolean;
      concurrency: number;
    }
  | { cmd: 'reset' }
  | { cmd: 'progress'; everyMs: number }
  | { cmd: 'report' }
  /** How many subscribed sockets last saw `ticks` equal to `expected`. */
  | { cmd: 'ticks'; expected: number }
  | { cmd: 'closeAll' }
  | { cmd: 'collectorReady'; url: string; identity: Record<string, unknown> }
  | { cmd: 'rawPayload'; url: string }
  | {
      cmd: 'mutateLoad';
      /** How many of this process's sockets send (the first ones it opened). */
      senders: number;
      /** Mutations per second this process sends, spread round-robin over its senders. */
      rate: number;
      /** Sent before `measureMs` starts; their round trips are not sampled. */
      warmupMs: number;
      measureMs: number;
      /** The mutator called; its args are `{ n }`, a number unique to each mutation. */
      name: string;
    };

export type ClientReply =
  | { ev: 'connected'; ready: number; failed: number }
  | { ev: 'progress'; received: number }
  | {
      ev: 'report';
      received: number;
      /** Bytes of every frame received since the last reset. */
      bytes: number;
      samples: number[];
      closes: Record<string, number>;
    }
  | { ev: 'ticks'; right: number; wrong: number; missing: number }
  | { ev: 'closed' }
  | { ev: 'timed'; ms: number; docs: number }
  | {
      ev: 'mutated';
      /** Mutations sent in the measured window, and how many of those were answered. */
      sent: number;
      answered: number;
      /** Of those, how many came inside a `batch` (with the deltas the mutation caused). */
      inBatch: number;
      /** Answers that carried an error (a benchmark expects none). */
      errors: number;
      firstError: string | null;
      /** Send-to-answer round trips of the measured window, in ms. */
      samples: number[];
    }
  | { ev: 'error'; message: string };

export type Envelope<T> = T & { id: number };
