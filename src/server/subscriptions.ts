import {
  encodeResumed,
  encodeSubscribed,
  encodeSubscriptionError,
  encodeUnsubscribed,
} from '../protocol/encode.js';
import { ParticleError } from '../protocol/errors.js';
import {
  SUB_ID_PATTERN,
  type RootPosition,
  type SubscribeMessage,
  type SubscriptionErrorCode,
} from '../protocol/messages.js';
import type { Doc } from './adapter.js';
import { canonicalKey } from './canonical.js';
import { sourceParams } from './params.js';
import { SessionRoot, type BacklogLimits, type Session, type Sink } from './session.js';
import { rootOptionsOf, type SourceState, type Views } from './views.js';

/** A refusal of one subscription: it ends that subscription only. */
class Refusal extends Error {
  constructor(
    readonly code: SubscriptionErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The on-demand half of a session: `subscribe` / `unsubscribe`, each subscription a root keyed
 * by the client's `sub` id with its own epoch, version and backlog, and their resume. Runs
 * inside the stream's job queue, in turn with the change feed.
 */
export class Subscriptions {
  private readonly backlog: BacklogLimits;
  private readonly maxSubscriptions: number;
  /** Told after each payload or resume of a subscription's root (leases on its documents follow). */
  private readonly payloadSent: (root: SessionRoot, sink: Sink) => void;

  constructor(
    private readonly views: Views,
    bounds: { readonly backlog: BacklogLimits; readonly maxSubscriptions: number },
    payloadSent: (root: SessionRoot, sink: Sink) => void = () => undefined,
  ) {
    this.backlog = bounds.backlog;
    this.maxSubscriptions = bounds.maxSubscriptions;
    this.payloadSent = payloadSent;
  }

  /** Answers one `subscribe`: `subscribed` and a `payload`, or `subscription_error`. */
  async subscribe(session: Session, message: SubscribeMessage, sink: Sink): Promise<void> {
    const { sub } = message;
    try {
      if (!SUB_ID_PATTERN.test(sub)) {
        throw new Refusal('bad_message', 'sub must match ^[A-Za-z0-9_-]{1,64}$');
      }
      if (session.roots.has(sub)) {
        throw new Refusal('bad_message', `sub "${sub}" is the name of a root; choose another id`);
      }
      const source = this.views.sources.get(message.source);
      if (!source) {
        throw new Refusal('unknown_source', `no data source is named "${message.source}"`);
      }
      const all = message.all === true;
      if (all && !source.produced?.wildcard) {
        throw new Refusal('bad_params', `${source.name} is not a wildcard source`);
      }
      if (all && message.params !== undefined) {
        throw new Refusal('bad_params', 'a wildcard subscription takes no params');
      }
      const params = all ? {} : await this.params(source, message.params);
      const limit = windowOf(source, message.limit);
      const paramsKey = all ? '*' : canonicalKey(params);
      const existing = session.subs.get(sub);
      if (existing?.subscription) {
        const was = existing.subscription;
        if (was.source !== source || was.paramsKey !== paramsKey) {
          // The existing subscription carries on; only this request is refused.
          sink.send(
            encodeSubscriptionError(sub, {
              code: 'bad_params',
              message: `sub "${sub}" already follows ${was.source.name} with other params; unsubscribe first`,
            }),
            'control',
          );
          return;
        }
        if (was.limit !== limit) {
          existing.subscription = { ...was, limit };
          await this.views.rejoin(existing, { source, identity: session.identity, params, limit });
        }
        sink.send(this.subscribedFrame(existing), 'control');
        return;
      }
      if (session.subs.size >= this.maxSubscriptions) {
        throw new Refusal(
          'too_many_subscriptions',
          `at most ${this.maxSubscriptions} subscriptions per client`,
        );
      }
      // A wildcard consumer is authorized per instance, as instances come.
      if (!all) await this.authorize(source, session.identity, params);
      const root = new SessionRoot(session, this.backlog, {
        name: sub,
        subscription: { source, params, paramsKey, limit, ...(all ? { all } : {}) },
      });
      await this.views.join(root, { source, identity: session.identity, params, limit });
      session.subs.set(sub, root);
      sink.send(this.subscribedFrame(root), 'control');
      sink.send(root.payloadFrame(), 'control');
      this.payloadSent(root, sink);
    } catch (error) {
      const refusal = asRefusal(error);
      sink.send(encodeSubscriptionError(sub, refusal), 'control');
    }
  }

  /**
   * The documents one subscription would show this identity now (server rendering); a refusal
   * throws a `ParticleError` with the code the client would get.
   */
  async view(
    identity: Record<string, unknown>,
    asked: { readonly name: string; readonly params: unknown; readonly limit?: number | undefined },
  ): Promise<Doc[]> {
    const { name, params: rawParams, limit: requestedLimit } = asked;
    try {
      const source = this.views.sources.get(name);
      if (!source) throw new Refusal('unknown_source', `no data source is named "${name}"`);
      const params = await this.params(source, rawParams);
      const limit = windowOf(source, requestedLimit);
      await this.authorize(source, identity, params);
      return await this.views.view({ source, identity, params, limit });
    } catch (error) {
      const refusal = asRefusal(error);
      throw new ParticleError(refusal.code, refusal.message);
    }
  }

  /** Ends subscription `sub` (if held) and says so. */
  unsubscribe(session: Session, sub: string, sink: Sink): void {
    this.drop(session, sub);
    sink.send(encodeUnsubscribed(sub), 'control');
  }

  /**
   * A link took the session over: every subscription the client names resumes (or starts a new
   * epoch from a payload); one it does not name is dropped; a name the session does not hold
   * is answered `unsubscribed`, and the client subscribes again.
   */
  async resume(
    session: Session,
    positions: Record<string, RootPosition>,
    sink: Sink,
  ): Promise<void> {
    for (const [sub, root] of [...session.subs]) {
      const position = positions[sub];
      const spec = root.subscription;
      if (!position || !spec) {
        this.drop(session, sub);
        continue;
      }
      try {
        if (!spec.all) await this.authorize(spec.source, session.identity, spec.params);
      } catch (error) {
        this.drop(session, sub);
        const refusal = asRefusal(error);
        sink.send(encodeSubscriptionError(sub, refusal), 'control');
        continue;
      }
      sink.send(this.subscribedFrame(root), 'control');
      const missed =
        position.epoch === root.epoch && position.version <= root.version
          ? root.backlog.since(position.version)
          : undefined;
      if (missed) {
        sink.send(encodeResumed(sub, position.epoch, position.version), 'control');
        missed.forEach((entry, i) =>
          sink.send(root.frame(position.version + i + 1, entry), 'control'),
        );
      } else {
        root.restart();
        sink.send(root.payloadFrame(), 'control');
      }
      this.payloadSent(root, sink);
    }
    for (const name of Object.keys(positions)) {
      if (!session.roots.has(name) && !session.subs.has(name)) {
        sink.send(encodeUnsubscribed(name), 'control');
      }
    }
  }

  /** The identity changed: every subscription is authorized again and follows the new views. */
  async reresolve(session: Session): Promise<void> {
    for (const [sub, root] of [...session.subs]) {
      const spec = root.subscription;
      if (!spec) continue;
      this.views.leave(root);
      try {
        if (!spec.all) await this.authorize(spec.source, session.identity, spec.params);
        root.restart();
        await this.views.join(root, {
          source: spec.source,
          identity: session.identity,
          params: spec.params,
          limit: spec.limit,
        });
        if (session.sink) {
          session.sink.send(root.payloadFrame(), 'control');
          this.payloadSent(root, session.sink);
        }
      } catch (error) {
        session.subs.delete(sub);
        const refusal = asRefusal(error);
        session.sink?.send(encodeSubscriptionError(sub, refusal), 'control');
      }
    }
  }

  /**
   * The identity changed only in what authorize reads (its views stay): each subscription is
   * authorized again, and a refused one ends with `subscription_error forbidden`.
   */
  async recheck(session: Session): Promise<void> {
    for (const [sub, root] of [...session.subs]) {
      const spec = root.subscription;
      if (!spec || spec.all) continue;
      try {
        await this.authorize(spec.source, session.identity, spec.params);
      } catch (error) {
        this.drop(session, sub);
        const refusal = asRefusal(error);
        session.sink?.send(encodeSubscriptionError(sub, refusal), 'control');
      }
    }
  }

  /** The session ends: its subscriptions leave their views. */
  release(session: Session): void {
    for (const sub of [...session.subs.keys()]) this.drop(session, sub);
  }

  private drop(session: Session, sub: string): void {
    const root = session.subs.get(sub);
    if (!root) return;
    session.subs.delete(sub);
    this.views.leave(root);
  }

  private subscribedFrame(root: SessionRoot): string {
    const spec = root.subscription as NonNullable<SessionRoot['subscription']>;
    const options = rootOptionsOf(spec.source, spec.limit);
    return encodeSubscribed({
      sub: root.name,
      manifest: spec.source.manifest,
      ...(options ? { options } : {}),
    });
  }

  private async params(source: SourceState, raw: unknown): Promise<Record<string, unknown>> {
    const result = await sourceParams(source.name, source.params, raw);
    if (!result.ok) throw new Refusal('bad_params', result.message);
    return result.value;
  }

  private async authorize(
    source: SourceState,
    identity: Record<string, unknown>,
    params: Record<string, unknown>,
  ): Promise<void> {
    if (!source.authorize) return;
    let allowed: boolean;
    try {
      allowed = await source.authorize({ identity, params });
    } catch {
      allowed = false;
    }
    if (allowed !== true) {
      throw new Refusal('forbidden', `this identity may not subscribe to ${source.name}`);
    }
  }
}

/** The window in force for a requested limit: the source's default, clamped to its max. */
function windowOf(source: SourceState, requested: number | undefined): number | undefined {
  if (!source.limit) {
    if (requested === undefined) return undefined;
    throw new Refusal('bad_params', `${source.name} has no limit (it is not a window)`);
  }
  const limit = requested ?? source.limit.default;
  if (limit < 1) throw new Refusal('bad_params', `limit must be at least 1, not ${limit}`);
  return Math.min(limit, source.limit.max);
}

function asRefusal(error: unknown): Refusal {
  if (error instanceof Refusal) return error;
  if (
    error instanceof ParticleError &&
    (error.code === 'bad_params' || error.code === 'bad_identity')
  ) {
    return new Refusal('bad_params', error.message);
  }
  if (error instanceof ParticleError && error.code === 'produce_failed') {
    return new Refusal('produce_failed', error.message);
  }
  throw error;
}
