import { encodeLockError, encodeMutated } from '../protocol/encode.js';
import { MutationError, ParticleError } from '../protocol/errors.js';
import {
  SUB_ID_PATTERN,
  type LockMessage,
  type MutateMessage,
  type UnlockMessage,
} from '../protocol/messages.js';
import { checkPositiveInteger } from '../protocol/config.js';
import type { Adapter } from './adapter.js';
import { WriteArgsSchema, directWrite, nativeId, viewOf, type WriteArgs } from './directWrites.js';
import { Leases } from './leases.js';
import { Mutations } from './mutations.js';
import { checkMutators, type Mutator, type MutatorState, type ScopesLike } from './mutators.js';
import type { Session, SessionRoot, Sink } from './session.js';
import type { SourceState } from './sources.js';

/** The Stream options this part reads. */
export interface WritesOptions {
  adapter: Adapter;
  mutators?: Record<string, Mutator> | undefined;
  scopes?: ScopesLike | undefined;
  dedupMs?: number | undefined;
  dedupEntries?: number | undefined;
  dedupBytes?: number | undefined;
  mutationTimeoutMs?: number | undefined;
  lockTtlMs?: number | undefined;
  maxLeases?: number | undefined;
}

/** What {@link Writes} needs from its Stream. */
export interface WritesHost {
  readonly sources: ReadonlyMap<string, SourceState>;
  sessions(): Iterable<Session>;
  /** Resolves once every change queued so far has been applied and sent. */
  drain(): Promise<void>;
  debug(message: string, details?: unknown): void;
}

/**
 * Everything clients write: the app's mutators, direct writes to writable sources (the
 * built-in `$write` mutation) and the leases on their documents.
 */
export class Writes {
  readonly leases: Leases;
  private readonly mutations: Mutations | undefined;
  readonly maxLeases: number;
  private readonly adapter: Adapter;

  constructor(
    options: WritesOptions,
    private readonly host: WritesHost,
  ) {
    this.adapter = options.adapter;
    for (const key of [
      'dedupMs',
      'dedupEntries',
      'dedupBytes',
      'mutationTimeoutMs',
      'lockTtlMs',
      'maxLeases',
    ] as const) {
      checkPositiveInteger(`new Stream: ${key}`, options[key]);
    }
    this.maxLeases = options.maxLeases ?? 16;
    this.leases = new Leases({
      ttlMs: options.lockTtlMs ?? 15_000,
      maxLeases: this.maxLeases,
      sessions: () => host.sessions(),
      writable: (root) => sourceOf(root, host.sources)?.writable !== undefined,
    });
    const writable = [...host.sources.values()].some((s) => s.writable !== undefined);
    if (options.mutators === undefined && !writable) return;
    const mutators = checkMutators(options.mutators ?? {});
    const adapter = options.adapter;
    if (typeof adapter.runWrites !== 'function' || typeof adapter.settled !== 'function') {
      throw new ParticleError(
        'config',
        `new Stream: ${options.mutators ? 'mutators need' : 'writable sources need'} an adapter with runWrites and settled, so that a write is acknowledged only after its changes were sent`,
      );
    }
    if (writable) mutators.set('$write', this.writeMutator());
    this.mutations = new Mutations(
      mutators,
      {
        adapter,
        scopes: options.scopes,
        leases: this.leases,
        timeoutMs: options.mutationTimeoutMs ?? 30_000,
        drain: () => host.drain(),
        debug: (message, details) => host.debug(message, details),
      },
      {
        ms: options.dedupMs ?? 300_000,
        entries: options.dedupEntries ?? 1000,
        bytes: options.dedupBytes ?? 1024 * 1024,
      },
    );
  }

  /** `mutate`, `lock` or `unlock` from a registered client (inside the Stream's queue). */
  async receive(
    session: Session,
    message: MutateMessage | LockMessage | UnlockMessage,
    sink: Sink,
  ): Promise<void> {
    if (message.type === 'unlock') {
      this.leases.unlock(session, message.id);
      return;
    }
    if (message.type === 'lock') {
      await this.lock(session, message, sink);
      return;
    }
    if (this.mutations) {
      this.mutations.receive(session, message, sink);
      return;
    }
    const error = { code: 'unknown_mutator', message: 'this server has no mutators' };
    sink.send(encodeMutated(message.id, { error }), 'control');
  }

  /** A root's payload was sent: the leases held on its documents follow. */
  payloadSent(root: SessionRoot, sink: Sink): void {
    for (const frame of this.leases.framesFor(root)) sink.send(frame, 'control');
  }

  close(): void {
    this.mutations?.close();
    this.leases.close();
  }

  private writeMutator(): MutatorState {
    return {
      name: '$write',
      args: WriteArgsSchema,
      transaction: false,
      run: ({ args, db }, session) =>
        directWrite(args as WriteArgs, {
          session,
          sources: this.host.sources,
          db,
          leases: this.leases,
        }),
    };
  }

  /**
   * A lease is granted only for a document in the requester's view of a writable source whose
   * `allow` passes for it.
   */
  private async lock(session: Session, message: LockMessage, sink: Sink): Promise<void> {
    const refuse = (code: 'forbidden' | 'unknown_source' | 'bad_message', text: string) =>
      sink.send(encodeLockError(message.id, { code, message: text }), 'control');
    if (!SUB_ID_PATTERN.test(message.id)) {
      refuse('bad_message', 'a lock id must match ^[A-Za-z0-9_-]{1,64}$');
      return;
    }
    const source = this.host.sources.get(message.root);
    if (!source) return refuse('unknown_source', `no data source is named "${message.root}"`);
    const writable = source.writable;
    if (!writable) return refuse('forbidden', `${message.root} is not writable`);
    const outside = `no document ${String(message.doc)} in your view of ${message.root}`;
    let root: SessionRoot | undefined;
    try {
      root = await viewOf(session, source, message.params);
    } catch (error) {
      return refuse('forbidden', error instanceof MutationError ? error.message : outside);
    }
    const native = root?.group ? nativeId(root.group.docs, message.doc) : undefined;
    if (native === undefined) return refuse('forbidden', outside);
    const identity = session.identity;
    if (writable.allow) {
      const [doc] = await this.adapter.find(source.collection, { _id: native });
      let ok: boolean;
      try {
        ok =
          doc !== undefined &&
          (await writable.allow({ identity, doc, next: doc, op: 'update' })) === true;
      } catch {
        ok = false;
      }
      if (!ok)
        return refuse('forbidden', `locking this document of ${message.root} is not allowed`);
    }
    let owner: unknown;
    try {
      owner = writable.lockOwner?.(identity);
    } catch (error) {
      this.host.debug(`${message.root}: lockOwner threw`, error);
    }
    if (session.sink !== sink) return;
    this.leases.lock(session, {
      lockId: message.id,
      target: { collection: source.collection, native, owner },
      wait: message.wait,
    });
  }
}

/** The source a session root shows. */
export function sourceOf(
  root: SessionRoot,
  sources: ReadonlyMap<string, SourceState>,
): SourceState | undefined {
  return root.subscription?.source ?? sources.get(root.name);
}
