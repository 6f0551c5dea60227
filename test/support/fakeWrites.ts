/**
 * How the MongoDB wire fake (mongoWireFake.ts) applies the statements of `insert`, `update` and
 * `delete` to a collection's documents, and the change events a server would write for them.
 * Update operators are mingo's; upserts and pipeline updates are refused.
 */
import { BSON } from 'mongodb';
import { update as applyOperators } from 'mingo';
import { compileFakeQuery } from './fakeQuery.js';
import { copy, docsOf, readPath, sameId, sameValue, type Doc, type Store } from './fakeDocs.js';
import type { WriteError } from './fakeErrors.js';
import type { Written } from './fakeChangeStreams.js';

/** What the change events of a write depend on. */
export interface EventContext {
  /** The database name events are reported in. */
  db: string;
  /** The collections whose updates keep a post-image. */
  postImages: ReadonlySet<string>;
}

/** Where a write command's statements apply: a collection of the live state or a transaction's. */
export interface WriteTarget {
  events: EventContext;
  store: Store;
  coll: string;
}

/** What a write command did. */
export interface WriteOutcome {
  reply: Doc;
  changes: Written[];
  touched: { coll: string; id: unknown }[];
  failed: boolean;
}

/** An update's result: the document after it, and the fields it set and removed. */
export interface Updated {
  doc: Doc;
  updatedFields: Doc;
  removedFields: string[];
}

export function insertChange(events: EventContext, coll: string, doc: Doc): Written {
  return {
    event: {
      operationType: 'insert',
      ns: { db: events.db, coll },
      documentKey: { _id: doc._id },
      fullDocument: copy(doc),
    },
  };
}

export function updateChange(events: EventContext, coll: string, updated: Updated): Written {
  const { doc, updatedFields, removedFields } = updated;
  const change: Written = {
    event: {
      operationType: 'update',
      ns: { db: events.db, coll },
      documentKey: { _id: doc._id },
      updateDescription: { updatedFields, removedFields, truncatedArrays: [] },
    },
    lookup: { coll, id: doc._id },
  };
  if (events.postImages.has(coll)) change.postImage = copy(doc);
  return change;
}

export function replaceChange(events: EventContext, coll: string, doc: Doc): Written {
  return {
    event: {
      operationType: 'replace',
      ns: { db: events.db, coll },
      documentKey: { _id: doc._id },
      fullDocument: copy(doc),
    },
  };
}

export function deleteChange(events: EventContext, coll: string, id: unknown): Written {
  return {
    event: { operationType: 'delete', ns: { db: events.db, coll }, documentKey: { _id: id } },
  };
}

function newOutcome(): WriteOutcome {
  return { reply: { ok: 1 }, changes: [], touched: [], failed: false };
}

function writeError(outcome: WriteOutcome, index: number, error: WriteError): void {
  outcome.failed = true;
  const errors = (outcome.reply.writeErrors as Doc[] | undefined) ?? [];
  errors.push({ index, ...error });
  outcome.reply.writeErrors = errors;
}

/** The `documents` of an `insert`; a duplicate `_id` is a write error. */
export function insertDocs(target: WriteTarget, docs: Doc[], ordered: boolean): WriteOutcome {
  const { events, coll } = target;
  const list = docsOf(target.store, coll);
  const outcome = newOutcome();
  let n = 0;
  for (const [index, raw] of docs.entries()) {
    const doc = raw._id === undefined ? { _id: new BSON.ObjectId(), ...copy(raw) } : copy(raw);
    if (list.some((d) => sameId(d._id, doc._id))) {
      writeError(outcome, index, {
        code: 11000,
        errmsg: `E11000 duplicate key error collection: ${events.db}.${coll} index: _id_ dup key: { _id: ${BSON.EJSON.stringify(doc._id as Doc)} }`,
      });
      if (ordered) break;
      continue;
    }
    list.push(doc);
    n++;
    outcome.changes.push(insertChange(events, coll, doc));
    outcome.touched.push({ coll, id: doc._id });
  }
  outcome.reply.n = n;
  return outcome;
}

/** The `updates` of an `update`: operator updates (mingo's) and replacements. */
export function updateDocs(target: WriteTarget, updates: Doc[], ordered: boolean): WriteOutcome {
  const { events, coll } = target;
  const list = docsOf(target.store, coll);
  const outcome = newOutcome();
  let matched = 0;
  let modified = 0;
  statements: for (const [index, statement] of updates.entries()) {
    const u = statement.u;
    const fail = (error: WriteError): boolean => {
      writeError(outcome, index, error);
      return ordered;
    };
    if (statement.upsert === true) {
      if (fail({ code: 2, errmsg: 'upserts are not modelled by the fake' })) break;
      continue;
    }
    if (typeof u !== 'object' || u === null || Array.isArray(u)) {
      if (fail({ code: 2, errmsg: 'pipeline updates are not modelled by the fake' })) break;
      continue;
    }
    const operators = Object.keys(u).some((key) => key.startsWith('$'));
    if (!operators && statement.multi === true) {
      const errmsg = 'multi update is not supported for replacement-style update';
      if (fail({ code: 9, errmsg })) break;
      continue;
    }
    const matches = list.filter(compileFakeQuery((statement.q as Doc | undefined) ?? {}));
    for (const doc of statement.multi === true ? matches : matches.slice(0, 1)) {
      matched++;
      const at = list.indexOf(doc);
      if (!operators) {
        const replacement = u as Doc;
        if (replacement._id !== undefined && !sameId(replacement._id, doc._id)) {
          const errmsg =
            "After applying the update, the (immutable) field '_id' was found to have been altered";
          if (fail({ code: 66, errmsg })) break statements;
          continue statements;
        }
        const { _id: _same, ...fields } = copy(replacement);
        const next = { _id: doc._id, ...fields };
        if (sameValue(next, doc)) continue;
        list[at] = next;
        modified++;
        outcome.changes.push(replaceChange(events, coll, next));
        outcome.touched.push({ coll, id: doc._id });
        continue;
      }
      const next = copy(doc);
      let paths: string[];
      try {
        const arrayFilters = statement.arrayFilters as Doc[] | undefined;
        paths = applyOperators(next, u as Parameters<typeof applyOperators>[1], arrayFilters);
      } catch (error) {
        const errmsg = error instanceof Error ? error.message : String(error);
        if (fail({ code: /immutable/i.test(errmsg) ? 66 : 9, errmsg })) break statements;
        continue statements;
      }
      if (paths.length === 0) continue;
      const updatedFields: Doc = {};
      const removedFields: string[] = [];
      for (const path of paths) {
        const found = readPath(next, path);
        if (found.exists) updatedFields[path] = copy(found.value);
        else removedFields.push(path);
      }
      list[at] = next;
      modified++;
      outcome.changes.push(updateChange(events, coll, { doc: next, updatedFields, removedFields }));
      outcome.touched.push({ coll, id: doc._id });
    }
  }
  outcome.reply.n = matched;
  outcome.reply.nModified = modified;
  return outcome;
}

/** The `deletes` of a `delete` (`limit` 1 or 0, for all matches). */
export function deleteDocs(target: WriteTarget, deletes: Doc[], ordered: boolean): WriteOutcome {
  const { events, coll } = target;
  const list = docsOf(target.store, coll);
  const outcome = newOutcome();
  let n = 0;
  for (const [index, statement] of deletes.entries()) {
    if (statement.limit !== 0 && statement.limit !== 1) {
      writeError(outcome, index, {
        code: 9,
        errmsg: 'The limit field in delete objects must be 0 or 1',
      });
      if (ordered) break;
      continue;
    }
    const matches = list.filter(compileFakeQuery((statement.q as Doc | undefined) ?? {}));
    for (const doc of statement.limit === 1 ? matches.slice(0, 1) : matches) {
      list.splice(list.indexOf(doc), 1);
      n++;
      outcome.changes.push(deleteChange(events, coll, doc._id));
      outcome.touched.push({ coll, id: doc._id });
    }
  }
  outcome.reply.n = n;
  return outcome;
}
