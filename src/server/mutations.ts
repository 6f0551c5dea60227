import { encodeMutated } from '../protocol/encode.js';
import type { MutateMessage } from '../protocol/messages.js';
import type { Adapter, Db, Doc, WritesDone } from './adapter.js';
import type { LeaseCheck } from './directWrites.js';
import { canonicalKey } from './canonical.js';
import { Dedup, type DedupLimits, type Outcome } from './dedup.js';
import { publicError, type MutatorState, type ScopesLike } from './mutators.js';
import { validate } from './params.js';
import type { Session, Sink } from './session.js';

/** What {@link Mutations} needs from its Stream. */
export interface MutationHost {
  readonly adapter: Adapter;
  readonly scopes: ScopesLike | undefined;
  /** Writes to a document another session leases fail with `locked`. */
  readonly leases: Pick<LeaseCheck, 'assertFree'> & { any(collection: string): boolean };
  /** Server-side bound on one mutation (`run` plus settling), in ms. */
  readonly timeoutMs: number;
  /** Resolves once every change queued so far has been applied and sent to its sinks. */
  drain(): Promise<void>;
  debug(message: string, details?: unknown): void;
}

const TIMEOUT = Symbol('timeout');

/**
 * Runs each session's mutations one at a time, in arrival order, and answers each with
 * `mutated` only after the deltas its writes caused were queued to that session's link: the
 * link holds its frames from the start of the mutation and sends them with the answer in one
 * `batch`, so the client drops the optimistic layer in the same step that shows the real data.
 */
export class Mutations {
  private readonly dedup: Dedup;
  private readonly tails = new WeakMap<Session, Promise<void>>();

  constructor(
    private readonly mutators: ReadonlyMap<string, MutatorState>,
    private readonly host: MutationHost,
    dedup: DedupLimits,
  ) {
    this.dedup = new Dedup(dedup);
  }

  /** Queues `message` behind the session's earlier mutations; never rejects. */
  receive(session: Session, message: MutateMessage, sink: Sink): void {
    const tail = this.tails.get(session) ?? Promise.resolve();
    const next = tail
      .then(() => this.handle(session, message, sink))
      .catch((error: unknown) => {
        this.host.debug('mutation handling failed', error);
      });
    this.tails.set(session, next);
  }

  close(): void {
    this.dedup.close();
  }

  private readonly identities = new WeakMap<object, string>();

  private identityOf(session: Session): string {
    const identity = session.identity;
    let key = this.identities.get(identity);
    if (key === undefined) this.identities.set(identity, (key = canonicalKey(identity)));
    return key;
  }

  /**
   * `db` as a mutator gets it: each write first checks the leases of what it would touch (a
   * multi-document write fails whole, before writing), then tells the link to start holding.
   */
  private guarded(db: Db, wrote: () => void, session: Session): Db {
    const { leases } = this.host;
    const free = async (collection: string, filter: Doc) => {
      if (!leases.any(collection)) return;
      const ids = (await db.find(collection, filter)).map((d) => d._id);
      leases.assertFree(session, collection, ids);
    };
    return {
      insert: (c, docs) => (wrote(), db.insert(c, docs)),
      update: async (c, filter, update) => (
        await free(c, filter),
        wrote(),
        db.update(c, filter, update)
      ),
      replace: async (c, filter, doc) => (
        await free(c, filter),
        wrote(),
        db.replace(c, filter, doc)
      ),
      remove: async (c, filter) => (await free(c, filter), wrote(), db.remove(c, filter)),
      find: (c, query, options) => db.find(c, query, options),
    };
  }

  private async handle(session: Session, message: MutateMessage, sink: Sink): Promise<void> {
    const { id, name } = message;
    const asker: Asker = { session, sink, id };
    const argsJson = JSON.stringify(message.args ?? null);
    // Keyed by the whole resolved identity: `identityKey` covers only what references read, and
    // two users alike in those must still never share a mutation id's outcome.
    const who = this.identityOf(session);
    const seen = this.dedup.get(who, id);
    if (seen) {
      const outcome: Outcome =
        seen.name === name && seen.argsJson === argsJson
          ? await seen.outcome
          : {
              error: {
                code: 'bad_args',
                message: `mutation id ${id} was already used with other ${seen.name === name ? 'args' : 'mutator'}`,
              },
            };
      this.answer(asker, outcome, false);
      return;
    }
    const mutator = this.mutators.get(name);
    if (!mutator) {
      this.answer(asker, fail('unknown_mutator', `no mutator named ${name}`), false);
      return;
    }
    let resolveOutcome!: (outcome: Outcome) => void;
    const outcome = new Promise<Outcome>((r) => (resolveOutcome = r));
    this.dedup.remember(who, id, { name, argsJson, outcome });
    // The link holds its frames from the mutation's first write (not before: a mutator that
    // reads or waits first must not delay the client's other live data) until the answer.
    let held = false;
    let answered = false;
    const wrote = () => {
      // A run that outlived its timeout may still write after the answer: nothing to hold for.
      if (held || answered) return;
      held = true;
      sink.hold();
    };
    let result: Outcome;
    try {
      result = await this.execute(mutator, { session, message, wrote });
    } catch (error) {
      this.host.debug(`mutator ${name} failed`, error);
      result = fail('internal', `mutator ${name} failed on the server`);
    }
    resolveOutcome(result);
    answered = true;
    this.answer(asker, result, held);
  }

  private async execute(
    mutator: MutatorState,
    { session, message, wrote }: MutatorCall,
  ): Promise<Outcome> {
    let args: unknown = message.args;
    if (mutator.args) {
      const checked = await validate(mutator.args, message.args, 'args');
      if (!checked.ok) return fail('bad_args', checked.message);
      args = checked.value;
    }
    const { adapter, scopes } = this.host;
    const work = (async (): Promise<Outcome> => {
      let done: WritesDone<unknown>;
      try {
        done = await adapter.runWrites!(
          // eslint-disable-next-line @typescript-eslint/require-await -- a mutator that throws at once must reject, not throw out of runWrites
          async (db) =>
            mutator.run(
              { identity: session.identity, args, db: this.guarded(db, wrote, session), scopes },
              session,
            ),
          { transaction: mutator.transaction },
        );
      } catch (error) {
        const known = publicError(error);
        if (known) return { error: known };
        this.host.debug(`mutator ${mutator.name} threw`, error);
        return fail('internal', `mutator ${mutator.name} failed on the server`);
      }
      const result = serializable(done.value);
      await adapter.settled!(done.written);
      await this.host.drain();
      if (result === undefined) {
        this.host.debug(`mutator ${mutator.name} returned a value JSON cannot carry`, done.value);
        return fail('internal', `mutator ${mutator.name} returned a value that cannot be sent`);
      }
      return { result: result.value };
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<typeof TIMEOUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMEOUT), this.host.timeoutMs);
      timer.unref?.();
    });
    try {
      const first = await Promise.race([work, timeout]);
      if (first !== TIMEOUT) return first;
      this.host.debug(`mutator ${mutator.name} did not settle within ${this.host.timeoutMs} ms`);
      return fail(
        'mutation_timeout',
        `mutator ${mutator.name} did not finish within ${this.host.timeoutMs} ms; its effect is unknown`,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `mutated`; with `held`, inside the batch the link held since the first write. */
  private answer({ session, sink, id }: Asker, outcome: Outcome, held: boolean): void {
    const frame = encodeMutated(id, outcome);
    if (held) {
      // The link that asked may have been replaced by a resume: its held frames are in the
      // session's backlog, and the answer goes to whichever link the session has now.
      if (session.sink === sink) {
        sink.release(frame);
        return;
      }
      sink.release();
    }
    try {
      session.sink?.send(frame, 'control');
    } catch {
      // a failing link is closed by its transport
    }
  }
}

/** One run of a mutator: for which session, the message, and what to call at its first write. */
interface MutatorCall {
  readonly session: Session;
  readonly message: MutateMessage;
  readonly wrote: () => void;
}

/** Who asked for a mutation: the session, the link it asked on, and the mutation's id. */
interface Asker {
  readonly session: Session;
  readonly sink: Sink;
  readonly id: string;
}

function fail(code: string, message: string): Outcome {
  return { error: { code, message } };
}

/** The value as JSON will carry it, or `undefined` when it cannot be serialized. */
function serializable(value: unknown): { value: unknown } | undefined {
  if (value === undefined) return { value: undefined };
  try {
    const text = JSON.stringify(value);
    return { value: text === undefined ? undefined : (JSON.parse(text) as unknown) };
  } catch {
    return undefined;
  }
}
