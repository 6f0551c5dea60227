/** Commands a benchmark process sends to a client process, and what comes back. */
export type ClientCommand =
  | {
      cmd: 'connect';
      url: string;
      /** One entry per socket: the identity to register with, or `null` to send nothing. */
      identities: (Record<string, unknown> | null)[];
      /** A socket counts as ready after this many `payload` frames (0: once open). */
      readyPayloads: number;
      /** Stop reading from each socket once it is ready (a slow consumer). */
      pause: boolean;
      concurrency: number;
    }
  | { cmd: 'reset' }
  | { cmd: 'progress'; everyMs: number }
  | { cmd: 'report' }
  | { cmd: 'closeAll' }
  | { cmd: 'collectorReady'; url: string; identity: Record<string, unknown> }
  | { cmd: 'rawPayload'; url: string };

export type ClientReply =
  | { ev: 'connected'; ready: number; failed: number }
  | { ev: 'progress'; received: number }
  | {
      ev: 'report';
      received: number;
      samples: number[];
      closes: Record<string, number>;
    }
  | { ev: 'closed' }
  | { ev: 'timed'; ms: number; docs: number }
  | { ev: 'error'; message: string };

export type Envelope<T> = T & { id: number };
