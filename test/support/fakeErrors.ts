/**
 * The error replies of the MongoDB wire fake (mongoWireFake.ts): the faults tests inject, and
 * the server errors the fake answers with on its own, each with a real server's code and name.
 */
import type { Doc } from './fakeDocs.js';

/** A fault a command answers with. */
export interface InjectedError {
  code: number;
  codeName?: string;
  errmsg?: string;
  errorLabels?: string[];
}

/** An error of one write statement (an entry of a reply's `writeErrors`, without its index). */
export interface WriteError {
  code: number;
  errmsg: string;
}

/** The reply of a command failing with an injected fault. */
export function errorReply(error: InjectedError): Doc {
  const doc: Doc = {
    ok: 0,
    code: error.code,
    codeName: error.codeName ?? `Code${error.code}`,
    errmsg: error.errmsg ?? `injected error ${error.code}`,
  };
  if (error.errorLabels) doc.errorLabels = error.errorLabels;
  return doc;
}

/** A command the fake does not know. */
export function commandNotFound(name: string): Doc {
  return { ok: 0, code: 59, codeName: 'CommandNotFound', errmsg: `no such command: '${name}'` };
}

/** An aggregate whose first stage is not `$changeStream` (the only pipeline the fake runs). */
export function notAChangeStream(): Doc {
  return { ok: 0, code: 40324, codeName: 'Location40324', errmsg: 'only $changeStream here' };
}

/** `$changeStream` on a standalone server. */
export function changeStreamOnStandalone(): Doc {
  return {
    ok: 0,
    code: 40573,
    codeName: 'Location40573',
    errmsg: 'The $changeStream stage is only supported on replica sets',
  };
}

/** `showExpandedEvents` on a server before 6.0. */
export function expandedEventsUnknown(): Doc {
  return {
    ok: 0,
    code: 40415,
    codeName: 'Location40415',
    errmsg: "BSON field '$changeStream.showExpandedEvents' is an unknown field.",
  };
}

/** A resume token the oplog no longer (or never) held. */
export function resumeTokenNotFound(): Doc {
  return {
    ok: 0,
    code: 280,
    codeName: 'ChangeStreamFatalError',
    errmsg: 'cannot resume stream; the resume token was not found',
  };
}

export function cursorNotFound(id: number): Doc {
  return { ok: 0, code: 43, codeName: 'CursorNotFound', errmsg: `cursor id ${id} not found` };
}

export function cursorKilled(): Doc {
  return { ok: 0, code: 237, codeName: 'CursorKilled', errmsg: 'cursor killed' };
}

/** A command with `autocommit: false` but without its session or transaction number. */
export function transactionFieldsMissing(): Doc {
  return {
    ok: 0,
    code: 50768,
    codeName: 'Location50768',
    errmsg: 'txnNumber and lsid are required in a transaction',
  };
}

/** A command of a transaction that is not open (aborted, or never started). */
export function noSuchTransaction(txnNumber: number): Doc {
  return {
    ok: 0,
    code: 251,
    codeName: 'NoSuchTransaction',
    errmsg: `Transaction with { txnNumber: ${txnNumber} } has been aborted.`,
    errorLabels: ['TransientTransactionError'],
  };
}
