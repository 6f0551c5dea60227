import Type from 'typebox';
import { DocSchema, IdSchema, type Doc, type Id, type Op } from './wireValues.js';

// Ops travel as short arrays, their operation's name first: a one-field `set` is
// `["set",1,"n",42]`, a third of the bytes of the same op with named keys.

/** `["insert", id, doc]`: insert (or replace) a whole projected document. */
export type WireInsertOp = ['insert', Id, Doc];
/** `["remove", id]`: remove a document from the root. */
export type WireRemoveOp = ['remove', Id];
/** `["set", id, path, value]`: set the value at `path` (numeric segments index arrays). */
export type WireSetOp = ['set', Id, string, unknown];
/** `["unset", id, path]`: remove the field at `path`. */
export type WireUnsetOp = ['unset', Id, string];
/** One change to one document of a root, as a delta carries it. */
export type WireOp = WireInsertOp | WireRemoveOp | WireSetOp | WireUnsetOp;

export const WireOpSchema = Type.Union([
  Type.Tuple([Type.Literal('insert'), IdSchema, DocSchema]),
  Type.Tuple([Type.Literal('remove'), IdSchema]),
  Type.Tuple([Type.Literal('set'), IdSchema, Type.String(), Type.Unknown()]),
  Type.Tuple([Type.Literal('unset'), IdSchema, Type.String()]),
]);

/** The wire form of `op`. */
export function opToWire(op: Op): WireOp {
  switch (op.operation) {
    case 'insert':
      return ['insert', op.id, op.data];
    case 'remove':
      return ['remove', op.id];
    case 'set':
      return ['set', op.id, op.path, op.data];
    case 'unset':
      return ['unset', op.id, op.path];
  }
}

/** The op a wire op stands for (the wire op already validated). */
export function opFromWire(wire: WireOp): Op {
  switch (wire[0]) {
    case 'insert':
      return { operation: 'insert', id: wire[1], data: wire[2] };
    case 'remove':
      return { operation: 'remove', id: wire[1] };
    case 'set':
      return { operation: 'set', id: wire[1], path: wire[2], data: wire[3] };
    case 'unset':
      return { operation: 'unset', id: wire[1], path: wire[2] };
  }
}
