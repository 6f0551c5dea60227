import { encodePublishError } from '../protocol/encode.js';
import { MutationError } from '../protocol/errors.js';
import {
  SUB_ID_PATTERN,
  type PublishErrorCode,
  type PublishMessage,
} from '../protocol/messages.js';
import type { Doc } from './adapter.js';
import { canonicalKey } from './canonical.js';
import { isPlainObject } from './clone.js';
import { Group, MATCH_ALL } from './group.js';
import { idKey } from './ids.js';
import { sourceParams } from './params.js';
import type { Published } from './published.js';
import { newToken, type Session, type SessionRoot, type Sink } from './session.js';
import type { SourceState } from './sources.js';

type PublishedSource = SourceState & { readonly published: Published };

/** What a value is published into: a published source with one params. */
interface Target {
  readonly source: PublishedSource;
  readonly params: Record<string, unknown>;
}

/** One instance of a published source (one per params): its documents and its subscribers. */
class Instance implements Target {
  readonly members = new Set<SessionRoot>();
  /** The publications it holds, by document id, and by publishing session. */
  readonly entries = new Map<string, Entry>();
  readonly bySession = new Map<Session, Entry>();
  /** The instance's key, which is its group's. */
  readonly key: string;

  constructor(
    readonly source: PublishedSource,
    readonly params: Record<string, unknown>,
    readonly group: Group,
  ) {
    this.key = group.key;
  }
}

/** One publication of one session. */
interface Entry {
  readonly session: Session;
  readonly pub: string;
  readonly instance: Instance;
  readonly docId: string;
  /** The value as the client last sent it (accepted again after a reauthorize). */
  data: unknown;
  gone: ReturnType<typeof setTimeout> | undefined;
  tokens: number;
  refilledAt: number;
}

class Refusal extends Error {
  constructor(
    readonly code: PublishErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Updates a publication may make per second (and its burst). */
const PUBLISH_RATE = 20;

/** How publications reach the rest of the server. */
export interface PublicationsHost {
  readonly sources: ReadonlyMap<string, SourceState>;
  readonly maxPublications: number;
  /** Runs `job` in turn with the change feed. */
  schedule(job: () => void): void;
  debug(message: string, details?: unknown): void;
}

/**
 * Published sources (presence, client masters): the documents clients publish, one instance
 * per source and params, followed by subscribers like any other view. A document lives while
 * its publisher does: it goes on `unpublish`, at once when the session ends, and `goneAfterMs`
 * after the link closed without a resume.
 */
export class Publications {
  private readonly instances = new Map<string, Instance>();
  private readonly byGroup = new Map<Group, Instance>();
  private readonly bySession = new Map<Session, Map<string, Entry>>();

  constructor(private readonly host: PublicationsHost) {}

  get size(): number {
    return this.instances.size;
  }

  // ---- subscribers ---------------------------------------------------------------------------

  owns(member: SessionRoot): boolean {
    return member.group !== null && this.byGroup.has(member.group);
  }

  join(member: SessionRoot, source: PublishedSource, params: Record<string, unknown>): void {
    const instance = this.instanceFor(source, params);
    instance.members.add(member);
    instance.group.members.add(member);
    member.group = instance.group;
    member.resolution = null;
  }

  leave(member: SessionRoot): void {
    const instance = member.group ? this.byGroup.get(member.group) : undefined;
    if (!instance) return;
    instance.members.delete(member);
    instance.group.members.delete(member);
    member.group = null;
    this.unused(instance);
  }

  view(source: PublishedSource, params: Record<string, unknown>): Doc[] {
    return this.instances.get(keyOf(source, params))?.group.list() ?? [];
  }

  // ---- publishers ----------------------------------------------------------------------------

  /** Answers one `publish`: the document is stored and sent, or `publish_error` says why not. */
  async publish(session: Session, message: PublishMessage, sink: Sink): Promise<void> {
    const { pub } = message;
    const mine = this.bySession.get(session);
    const existing = mine?.get(pub);
    try {
      if (!SUB_ID_PATTERN.test(pub)) {
        throw new Refusal('bad_message', 'pub must match ^[A-Za-z0-9_-]{1,64}$');
      }
      if (existing && !take(existing)) {
        throw new Refusal(
          'rate_limited',
          `publication "${pub}" was updated more than ${PUBLISH_RATE} times per second`,
        );
      }
      const source = this.host.sources.get(message.source);
      if (!source) {
        throw new Refusal('unknown_source', `no data source is named "${message.source}"`);
      }
      if (!source.published) {
        throw new Refusal('unknown_source', `${source.name} is not a published source`);
      }
      const published = source as PublishedSource;
      const checked = await sourceParams(source.name, source.params, message.params);
      if (!checked.ok) throw new Refusal('bad_params', checked.message);
      const params = checked.value;
      const key = keyOf(published, params);
      if (existing && existing.instance.key !== key) {
        throw new Refusal(
          'bad_params',
          `pub "${pub}" published into ${existing.instance.source.name} with other params; unpublish first`,
        );
      }
      if (!existing && (mine?.size ?? 0) >= this.host.maxPublications) {
        throw new Refusal(
          'too_many_publications',
          `at most ${this.host.maxPublications} publications per client`,
        );
      }
      const doc = await this.accepted(
        { source: published, params },
        session.identity,
        message.data,
      );
      // `accept` may have awaited: the session may be gone, or this pub replaced meanwhile.
      if (session.sink !== sink) return;
      const instance = this.instanceFor(published, params);
      const single = published.published.mode === 'single';
      const holder = single ? instance.entries.get('master') : instance.bySession.get(session);
      const current = this.bySession.get(session)?.get(pub);
      if (holder && holder !== current) {
        throw new Refusal(
          'publish_conflict',
          single
            ? `another client publishes ${source.name} ${canonicalKey(params)}`
            : `this client already publishes into ${source.name} ${canonicalKey(params)} as "${holder.pub}"`,
        );
      }
      const entry = current ?? this.newEntry(session, pub, instance);
      entry.data = message.data;
      this.store(entry, doc);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      this.remove(session, pub);
      sink.send(encodePublishError(pub, error.code, error.message), 'control');
    }
  }

  /** Ends publication `pub` of `session` (its document goes); an unknown one is ignored. */
  unpublish(session: Session, pub: string): void {
    this.remove(session, pub);
  }

  /** The session's link closed: its documents go `goneAfterMs` later, unless it resumes. */
  linkClosed(session: Session): void {
    for (const entry of this.bySession.get(session)?.values() ?? []) {
      clearTimeout(entry.gone);
      const after = entry.instance.source.published.goneAfterMs;
      entry.gone = setTimeout(() => this.host.schedule(() => this.drop(entry)), after);
      entry.gone.unref?.();
    }
  }

  /** The session resumed: its documents stay. */
  linkOpened(session: Session): void {
    for (const entry of this.bySession.get(session)?.values() ?? []) {
      clearTimeout(entry.gone);
      entry.gone = undefined;
    }
  }

  /** The session ended: its documents go now. */
  release(session: Session): void {
    for (const pub of [...(this.bySession.get(session)?.keys() ?? [])]) this.remove(session, pub);
  }

  /**
   * The session's identity changed: each publication is authorized and accepted again from the
   * value last sent (a refused one goes, with `publish_error`).
   */
  async reauthorize(session: Session): Promise<void> {
    for (const entry of [...(this.bySession.get(session)?.values() ?? [])]) {
      const { instance } = entry;
      try {
        const doc = await this.accepted(instance, session.identity, entry.data);
        if (this.bySession.get(session)?.get(entry.pub) === entry) this.store(entry, doc);
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        this.remove(session, entry.pub);
        session.sink?.send(encodePublishError(entry.pub, error.code, error.message), 'control');
      }
    }
  }

  clear(): void {
    for (const entries of this.bySession.values()) {
      for (const entry of entries.values()) clearTimeout(entry.gone);
    }
    this.bySession.clear();
    for (const instance of this.instances.values()) instance.group.clear();
    this.instances.clear();
    this.byGroup.clear();
  }

  // ---- internals -----------------------------------------------------------------------------

  /** `authorize`, then `accept` (or the plain object as sent), bounded by `maxBytes`. */
  private async accepted(
    target: Target,
    identity: Record<string, unknown>,
    data: unknown,
  ): Promise<Doc> {
    const { source, params } = target;
    let allowed = true;
    if (source.authorize) {
      try {
        allowed = (await source.authorize({ identity, params })) === true;
      } catch {
        allowed = false;
      }
    }
    if (!allowed) {
      throw new Refusal('forbidden', `this identity may not publish into ${source.name}`);
    }
    let value: unknown = data;
    const accept = source.published.accept;
    if (accept) {
      try {
        value = await accept({ identity, params, data });
      } catch (error) {
        if (error instanceof MutationError) throw new Refusal('rejected', error.message);
        this.host.debug(`${source.name}: accept threw`, error);
        throw new Refusal('rejected', `${source.name} did not accept this value`);
      }
    }
    if (!isPlainObject(value)) {
      throw new Refusal(
        'rejected',
        accept
          ? `${source.name}: accept must return an object`
          : `a value published into ${source.name} must be an object`,
      );
    }
    let json: string;
    try {
      json = JSON.stringify(value);
    } catch {
      throw new Refusal('rejected', `a value published into ${source.name} must be JSON`);
    }
    if (Buffer.byteLength(json) > source.published.maxBytes) {
      throw new Refusal(
        'rejected',
        `a value published into ${source.name} may hold at most ${source.published.maxBytes} bytes of JSON`,
      );
    }
    return JSON.parse(json) as Doc;
  }

  /** Stores `doc` as the entry's document; subscribers get the difference. */
  private store(entry: Entry, doc: Doc): void {
    const { group } = entry.instance;
    const ops = group.process(
      {
        type: 'update',
        collection: '',
        id: entry.docId,
        doc: { ...doc, _id: entry.docId },
        updatedFields: {},
        removedFields: [],
      },
      idKey(entry.docId),
    );
    group.emit(ops);
  }

  /** A new publication `pub` of `session` into `instance`, registered but holding no value yet. */
  private newEntry(session: Session, pub: string, instance: Instance): Entry {
    // A 'many' document's id is opaque: it tells nothing of the session, nor links its rooms.
    const docId = instance.source.published.mode === 'single' ? 'master' : newToken();
    const entry: Entry = {
      session,
      pub,
      instance,
      docId,
      data: undefined,
      gone: undefined,
      tokens: PUBLISH_RATE,
      refilledAt: Date.now(),
    };
    let mine = this.bySession.get(session);
    if (!mine) this.bySession.set(session, (mine = new Map<string, Entry>()));
    mine.set(pub, entry);
    instance.entries.set(docId, entry);
    instance.bySession.set(session, entry);
    return entry;
  }

  private remove(session: Session, pub: string): void {
    const entry = this.bySession.get(session)?.get(pub);
    if (entry) this.drop(entry);
  }

  /** The entry's document goes; an instance nobody publishes into or follows goes too. */
  private drop(entry: Entry): void {
    const mine = this.bySession.get(entry.session);
    if (mine?.get(entry.pub) !== entry) return;
    clearTimeout(entry.gone);
    mine.delete(entry.pub);
    if (mine.size === 0) this.bySession.delete(entry.session);
    const { instance } = entry;
    instance.entries.delete(entry.docId);
    if (instance.bySession.get(entry.session) === entry) instance.bySession.delete(entry.session);
    const key = idKey(entry.docId);
    instance.group.emit(
      instance.group.process({ type: 'delete', collection: '', id: entry.docId }, key),
    );
    this.unused(instance);
  }

  private instanceFor(source: PublishedSource, params: Record<string, unknown>): Instance {
    const key = keyOf(source, params);
    let instance = this.instances.get(key);
    if (!instance) {
      const group = new Group({ key, source, query: {}, matcher: MATCH_ALL });
      instance = new Instance(source, params, group);
      this.instances.set(key, instance);
      this.byGroup.set(group, instance);
    }
    return instance;
  }

  private unused(instance: Instance): void {
    if (instance.members.size > 0 || instance.entries.size > 0) return;
    if (this.instances.get(instance.key) === instance) this.instances.delete(instance.key);
    this.byGroup.delete(instance.group);
    instance.group.clear();
  }
}

function keyOf(source: SourceState, params: Record<string, unknown>): string {
  return `${source.name}?${canonicalKey(params)}`;
}

/** Takes one update from the publication's bucket; `false` past the rate. */
function take(entry: Entry): boolean {
  const now = Date.now();
  entry.tokens = Math.min(
    PUBLISH_RATE,
    entry.tokens + ((now - entry.refilledAt) / 1000) * PUBLISH_RATE,
  );
  entry.refilledAt = now;
  if (entry.tokens < 1) return false;
  entry.tokens -= 1;
  return true;
}
