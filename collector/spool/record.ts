// The spool's record framing: magic, payload length, CRC-32 of the payload, the payload, and a newline.
// The magic lets a reader find the next good record after a torn or corrupt one; the checksum tells
// a torn write (or a flipped bit) from a good record; the closing newline means a record never ends in
// a zero byte, so the end of the data in a zero-filled segment is its last non-zero byte.
import { crc32 } from 'node:zlib';

export const headerBytes = 12;
const trailer = 0x0a;
const magic = 0x54_46_52_31; // "TFR1"

/** A payload given in parts (strings as UTF-8), framed without joining them first. */
export type PayloadParts = ReadonlyArray<Buffer | string>;

/** The payload's size in bytes. */
export function payloadBytes(parts: PayloadParts): number {
  let bytes = 0;
  for (const part of parts) bytes += typeof part === 'string' ? Buffer.byteLength(part) : part.length;
  return bytes;
}

/** The size of the record framing a payload of `payload` bytes. */
export const recordBytes = (payload: number): number => headerBytes + payload + 1;

/**
 * Writes the record of `parts` (`payload` bytes in all) into `target` at `offset`, which must have
 * room for recordBytes(payload); returns the offset after the record.
 */
export function writeRecord(target: Buffer, offset: number, parts: PayloadParts, payload: number): number {
  const start = offset + headerBytes;
  let at = start;
  for (const part of parts) at += typeof part === 'string' ? target.write(part, at) : part.copy(target, at);
  target.writeUInt32BE(magic, offset);
  target.writeUInt32BE(payload, offset + 4);
  target.writeUInt32BE(crc32(target.subarray(start, at)), offset + 8);
  target.writeUInt8(trailer, at);
  return at + 1;
}

/** One payload framed as a record. */
export function encodeRecord(payload: Buffer): Buffer {
  const record = Buffer.allocUnsafe(recordBytes(payload.length));
  writeRecord(record, 0, [payload], payload.length);
  return record;
}

export type Decoded =
  /** A whole, intact record at the offset. */
  | { kind: 'record'; payload: Buffer; bytes: number }
  /** The buffer ends inside this record; `bytes` is its full size (read that much to get it). */
  | { kind: 'incomplete'; bytes: number }
  /** No valid record starts here. */
  | { kind: 'corrupt' };

/** Decodes the record starting at `offset` of `buffer`, which holds bytes up to the end of what may be read. */
export function decodeRecord(buffer: Buffer, offset: number, maxPayload: number): Decoded {
  if (buffer.length - offset < headerBytes) return { kind: 'incomplete', bytes: headerBytes };
  if (buffer.readUInt32BE(offset) !== magic) return { kind: 'corrupt' };
  const length = buffer.readUInt32BE(offset + 4);
  if (length > maxPayload) return { kind: 'corrupt' };
  const bytes = headerBytes + length + 1;
  if (buffer.length - offset < bytes) return { kind: 'incomplete', bytes };
  const payload = buffer.subarray(offset + headerBytes, offset + headerBytes + length);
  if (buffer[offset + bytes - 1] !== trailer || crc32(payload) !== buffer.readUInt32BE(offset + 8)) return { kind: 'corrupt' };
  return { kind: 'record', payload, bytes };
}

/** The offset of the next intact record after `from`, or undefined when none is left in `buffer`. */
export function nextIntactRecord(buffer: Buffer, from: number, maxPayload: number): number | undefined {
  const marker = Buffer.from([0x54, 0x46, 0x52, 0x31]);
  for (let at = buffer.indexOf(marker, from + 1); at >= 0; at = buffer.indexOf(marker, at + 1)) {
    if (decodeRecord(buffer, at, maxPayload).kind === 'record') return at;
  }
  return undefined;
}
