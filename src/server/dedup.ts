/** How a mutation ended, as it goes on the wire. */
export type Outcome = { result: unknown } | { error: { code: string; message: string } };

/** What the server remembers of one mutation id. */
export interface Remembered {
  readonly name: string;
  /** The args as sent, canonical enough to tell a true resend from a reused id. */
  readonly argsJson: string;
  /** Settles once the first run answered; a resend waits on it. */
  readonly outcome: Promise<Outcome>;
}

/** Bounds of {@link Dedup}, per identity and client id. */
export interface DedupLimits {
  ms: number;
  entries: number;
  bytes: number;
}

interface Entry extends Remembered {
  at: number;
  bytes: number;
}

/**
 * Remembers mutation outcomes by (identity, mutation id) for `ms`, so a resent id is answered
 * with the first outcome and never runs twice. Each identity's client id keeps at most
 * `entries` outcomes and `bytes` of them; the oldest are forgotten first.
 */
export class Dedup {
  /** By identity key + client id, then by the whole mutation id, oldest first. */
  private readonly clients = new Map<string, { entries: Map<string, Entry>; bytes: number }>();
  private readonly sweeper: ReturnType<typeof setInterval>;

  constructor(private readonly limits: DedupLimits) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(limits.ms, 60_000)));
    this.sweeper.unref?.();
  }

  get(identityKey: string, id: string): Remembered | undefined {
    const client = this.clients.get(clientKey(identityKey, id));
    const entry = client?.entries.get(id);
    if (!entry || Date.now() - entry.at > this.limits.ms) return undefined;
    return entry;
  }

  remember(identityKey: string, id: string, remembered: Remembered): void {
    const key = clientKey(identityKey, id);
    let client = this.clients.get(key);
    if (!client) this.clients.set(key, (client = { entries: new Map(), bytes: 0 }));
    const entry: Entry = { ...remembered, at: Date.now(), bytes: remembered.argsJson.length };
    client.entries.set(id, entry);
    client.bytes += entry.bytes;
    const held = client;
    // An in-flight outcome costs its args; a settled one its answer too.
    void remembered.outcome.then((outcome) => {
      if (held.entries.get(id) !== entry) return;
      const size = JSON.stringify(outcome).length;
      entry.bytes += size;
      held.bytes += size;
      this.trim(key, held);
    });
    this.trim(key, client);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.clients.clear();
  }

  private trim(key: string, client: { entries: Map<string, Entry>; bytes: number }): void {
    const now = Date.now();
    for (const [id, entry] of client.entries) {
      const over =
        now - entry.at > this.limits.ms ||
        client.entries.size > this.limits.entries ||
        client.bytes > this.limits.bytes;
      if (!over || client.entries.size === 1) break;
      client.entries.delete(id);
      client.bytes -= entry.bytes;
    }
    if (client.entries.size === 0) this.clients.delete(key);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, client] of this.clients) {
      for (const [id, entry] of client.entries) {
        if (now - entry.at <= this.limits.ms) break;
        client.entries.delete(id);
        client.bytes -= entry.bytes;
      }
      if (client.entries.size === 0) this.clients.delete(key);
    }
  }
}

function clientKey(identityKey: string, id: string): string {
  return `${identityKey}\n${id.slice(0, id.lastIndexOf(':'))}`;
}
