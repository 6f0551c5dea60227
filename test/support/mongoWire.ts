/**
 * Framing of the MongoDB wire protocol, for the test fake in mongoWireFake.ts.
 *
 * Wire format (MongoDB Wire Protocol): every message starts with a 16-byte header of int32
 * messageLength, requestID, responseTo, opCode (little-endian). OP_MSG (2013) continues with
 * uint32 flagBits and sections (kind 0: one BSON body; kind 1: int32 size, cstring identifier,
 * BSON documents), then a CRC-32C when flagBits bit 0 is set. OP_QUERY (2004): int32 flags,
 * cstring collection, int32 skip, int32 return, BSON query. OP_REPLY (1): int32 flags,
 * int64 cursorID, int32 startingFrom, int32 numberReturned, BSON documents.
 */
import { BSON } from 'mongodb';

type Doc = Record<string, unknown>;

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_MSG = 2013;

/** The command of an OP_MSG: its body, with kind-1 document sequences added as arrays. */
export function parseOpMsg(message: Buffer): Doc | undefined {
  const flags = message.readUInt32LE(16);
  const end = flags & 1 ? message.length - 4 : message.length;
  let offset = 20;
  let body: Doc | undefined;
  const sequences: Record<string, Doc[]> = {};
  while (offset < end) {
    const kind = message.readUInt8(offset++);
    if (kind === 0) {
      const size = message.readInt32LE(offset);
      body = BSON.deserialize(message.subarray(offset, offset + size));
      offset += size;
    } else if (kind === 1) {
      const size = message.readInt32LE(offset);
      const sectionEnd = offset + size;
      const nameEnd = message.indexOf(0, offset + 4);
      const name = message.toString('utf8', offset + 4, nameEnd);
      const docs: Doc[] = [];
      for (let at = nameEnd + 1; at < sectionEnd;) {
        const docSize = message.readInt32LE(at);
        docs.push(BSON.deserialize(message.subarray(at, at + docSize)));
        at += docSize;
      }
      sequences[name] = docs;
      offset = sectionEnd;
    } else {
      return undefined;
    }
  }
  return body ? { ...body, ...sequences } : undefined;
}

/** The command of a legacy OP_QUERY (the driver's first handshake). */
export function parseOpQuery(message: Buffer): Doc | undefined {
  const nameEnd = message.indexOf(0, 20);
  const queryAt = nameEnd + 1 + 8;
  const size = message.readInt32LE(queryAt);
  const query = BSON.deserialize(message.subarray(queryAt, queryAt + size));
  // Legacy commands may wrap the command as { $query: {...}, $readPreference }.
  return (query.$query as Doc | undefined) ?? query;
}

function header(length: number, responseTo: number, opCode: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeInt32LE(length, 0);
  h.writeInt32LE(responseTo + 1_000_000, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

/** An OP_MSG reply holding one body section. */
export function opMsg(responseTo: number, doc: Doc): Buffer {
  const body = BSON.serialize(doc);
  const rest = Buffer.concat([Buffer.alloc(4), Buffer.from([0]), body]);
  return Buffer.concat([header(16 + rest.length, responseTo, OP_MSG), rest]);
}

/** An OP_REPLY holding one document (the answer to an OP_QUERY handshake). */
export function opReply(responseTo: number, doc: Doc): Buffer {
  const body = BSON.serialize(doc);
  const fields = Buffer.alloc(20);
  fields.writeInt32LE(8, 0); // AwaitCapable
  fields.writeBigInt64LE(0n, 4);
  fields.writeInt32LE(0, 12);
  fields.writeInt32LE(1, 16);
  return Buffer.concat([header(16 + 20 + body.length, responseTo, OP_REPLY), fields, body]);
}
