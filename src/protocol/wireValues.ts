import Type, { type Static } from 'typebox';

/** The wire protocol version this package speaks. */
export const PROTOCOL_VERSION = 2;

/** A document's id as it travels: ObjectIds as hex strings, numbers as numbers. */
export const IdSchema = Type.Union([Type.String(), Type.Number()], { $id: 'Id' });
export type Id = Static<typeof IdSchema>;

/** A document as it travels (JSON). */
export const DocSchema = Type.Record(Type.String(), Type.Unknown(), { $id: 'Doc' });
export type Doc = Record<string, unknown>;

/** Which fields leave the server: `true` for all, or a projection with `true` at any depth. */
export const ManifestSchema = Type.Cyclic(
  {
    Manifest: Type.Union([Type.Literal(true), Type.Record(Type.String(), Type.Ref('Manifest'))]),
  },
  'Manifest',
);
export type Manifest = true | { [field: string]: Manifest };

/** A MongoDB sort specification: field paths to 1 (ascending) or -1 (descending). */
export const SortSchema = Type.Record(
  Type.String(),
  Type.Union([Type.Literal(1), Type.Literal(-1)]),
);
export type Sort = Record<string, 1 | -1>;

/** Where a client's copy of one root stands: an epoch (one unbroken history) and a version in it. */
export const RootPositionSchema = Type.Object({
  epoch: Type.String({ maxLength: 200 }),
  version: Type.Integer({ minimum: 0 }),
});
export type RootPosition = Static<typeof RootPositionSchema>;

// ---- ops: what a delta changes (they travel as arrays, see wireOps.ts) -------------------

export type InsertOp = { operation: 'insert'; id: Id; data: Doc };
export type RemoveOp = { operation: 'remove'; id: Id };
export type SetOp = { operation: 'set'; id: Id; path: string; data: unknown };
export type UnsetOp = { operation: 'unset'; id: Id; path: string };
/** One change to one document of a root. */
export type Op = InsertOp | RemoveOp | SetOp | UnsetOp;
