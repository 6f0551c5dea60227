/**
 * `particle-sync/server/mongo`: the MongoDB adapter. Needs the `mongodb` peer dependency and a replica
 * set (change streams are not offered by a standalone server).
 */
export { MongoAdapter, REPLICA_SET_REQUIRED, type MongoAdapterOptions } from './mongoAdapter.js';
export { mapChangeEvent, type ChangeEvent } from './mapEvent.js';
export { toWire, type WireValue } from './toWire.js';
