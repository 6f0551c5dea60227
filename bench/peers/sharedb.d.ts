/** The parts of ShareDB (which ships no types) that the peer scenarios use. */
declare module 'sharedb' {
  import type { Duplex } from 'node:stream';

  type Callback = (error?: Error | null) => void;

  namespace ShareDB {
    interface Doc {
      id: string;
      data: unknown;
      fetch(callback: Callback): void;
      create(data: unknown, callback: Callback): void;
      submitOp(op: unknown, callback: Callback): void;
    }
    interface Connection {
      get(collection: string, id: string): Doc;
    }
    interface Context {
      agent: { custom: Record<string, unknown> };
      req?: unknown;
      query?: Record<string, unknown>;
    }
  }

  class ShareDB {
    constructor(options: { db: unknown });
    connect(): ShareDB.Connection;
    listen(stream: Duplex, req?: unknown): void;
    use(action: string, fn: (context: ShareDB.Context, next: Callback) => void): void;
    close(callback?: Callback): void;
  }
  export = ShareDB;
}

declare module 'sharedb/lib/client/index.js' {
  namespace ShareDBClient {
    interface Doc {
      id: string;
      data: unknown;
      on(event: 'op', listener: () => void): void;
    }
    interface Query {
      results: Doc[];
      on(event: 'ready', listener: () => void): void;
      on(event: 'error', listener: (error: Error) => void): void;
      on(event: 'insert', listener: (docs: Doc[]) => void): void;
    }
    class Connection {
      constructor(socket: unknown);
      createSubscribeQuery(collection: string, query: object): Query;
      close(): void;
    }
  }
  const ShareDBClient: { Connection: typeof ShareDBClient.Connection };
  export = ShareDBClient;
}

declare module 'sharedb-mingo-memory' {
  class ShareDBMingo {}
  export = ShareDBMingo;
}
