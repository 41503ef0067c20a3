/**
 * The libmacaroons v2 binary format (rescrv/libmacaroons doc/format.txt):
 *
 *   macaroon: VERSION opt_location IDENTIFIER EOS caveats EOS SIGNATURE
 *   caveat:   opt_location IDENTIFIER opt_vid EOS
 *
 * VERSION is the byte 0x02, EOS the byte 0x00, and every other token is a field:
 * `<type: uvarint> <length: uvarint> <bytes>`, with LOCATION=1, IDENTIFIER=2, VID=4, SIGNATURE=6.
 *
 * The decoder is strict (it parses untrusted bearer tokens): bounded sizes, fields in grammar
 * order only, minimal varints, no trailing bytes, UTF-8 locations.
 */

/** A macaroon caveat: first-party when it has no verification id, third-party otherwise. */
export interface Caveat {
  readonly identifier: Uint8Array;
  readonly verificationId?: Uint8Array;
  /** Only on third-party caveats (libmacaroons and pymacaroons reject it on first-party ones). */
  readonly location?: string;
}

export interface Macaroon {
  /** A hint only: the location is not covered by the signature. */
  readonly location?: string;
  readonly identifier: Uint8Array;
  readonly caveats: readonly Caveat[];
  readonly signature: Uint8Array;
}

/** Thrown for anything that is not a well-formed, in-bounds v2 macaroon. */
export class MacaroonFormatError extends Error {
  override readonly name = "MacaroonFormatError";
}

export const MACAROON_FORMAT_VERSION = 2;
export const MAX_MACAROON_BYTES = 8 * 1024;
export const MAX_CAVEATS = 64;
export const MAX_FIELD_BYTES = 4 * 1024;
export const SIGNATURE_BYTES = 32;

const EOS = 0;
const FIELD_LOCATION = 1;
const FIELD_IDENTIFIER = 2;
const FIELD_VID = 4;
const FIELD_SIGNATURE = 6;

const FIELD_NAMES: Record<number, string> = {
  [FIELD_LOCATION]: "location",
  [FIELD_IDENTIFIER]: "identifier",
  [FIELD_VID]: "verification id",
  [FIELD_SIGNATURE]: "signature",
};

// Field lengths are at most 4 KiB, so 5 varint bytes (35 bits) are more than any valid input needs.
const MAX_VARINT_BYTES = 5;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function fieldName(type: number): string {
  return FIELD_NAMES[type] ?? `unknown field type ${type}`;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Serializes to v2 binary. Throws MacaroonFormatError if the macaroon is out of bounds. */
export function encodeMacaroon(m: Macaroon): Uint8Array {
  if (m.signature.length !== SIGNATURE_BYTES) {
    throw new MacaroonFormatError(`signature must be ${SIGNATURE_BYTES} bytes, got ${m.signature.length}`);
  }
  if (m.caveats.length > MAX_CAVEATS) {
    throw new MacaroonFormatError(`too many caveats: ${m.caveats.length} (at most ${MAX_CAVEATS})`);
  }
  const out: number[] = [MACAROON_FORMAT_VERSION];
  if (m.location !== undefined) appendField(out, FIELD_LOCATION, encodeLocation(m.location));
  appendField(out, FIELD_IDENTIFIER, m.identifier);
  out.push(EOS);
  m.caveats.forEach((caveat, i) => {
    if (caveat.location !== undefined) {
      if (caveat.verificationId === undefined) {
        throw new MacaroonFormatError(`caveat ${i}: a location is only allowed on third-party caveats`);
      }
      appendField(out, FIELD_LOCATION, encodeLocation(caveat.location));
    }
    appendField(out, FIELD_IDENTIFIER, caveat.identifier);
    if (caveat.verificationId !== undefined) appendField(out, FIELD_VID, caveat.verificationId);
    out.push(EOS);
  });
  out.push(EOS);
  appendField(out, FIELD_SIGNATURE, m.signature);
  if (out.length > MAX_MACAROON_BYTES) {
    throw new MacaroonFormatError(`encoded macaroon is ${out.length} bytes (at most ${MAX_MACAROON_BYTES})`);
  }
  return Uint8Array.from(out);
}

function encodeLocation(location: string): Uint8Array {
  const bytes = utf8Encoder.encode(location);
  // TextEncoder silently replaces lone surrogates; refuse instead of signing something else.
  if (utf8Decoder.decode(bytes) !== location) {
    throw new MacaroonFormatError("location is not a well-formed Unicode string");
  }
  return bytes;
}

function appendField(out: number[], type: number, data: Uint8Array): void {
  if (data.length > MAX_FIELD_BYTES) {
    throw new MacaroonFormatError(`${fieldName(type)} is ${data.length} bytes (at most ${MAX_FIELD_BYTES})`);
  }
  appendUvarint(out, type);
  appendUvarint(out, data.length);
  for (const byte of data) out.push(byte);
}

function appendUvarint(out: number[], n: number): void {
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

// ---------------------------------------------------------------------------------------------
// Decoding

interface Field {
  readonly type: number;
  readonly data: Uint8Array;
}

/** Parses v2 binary. Throws MacaroonFormatError with a reason on any malformed input. */
export function decodeMacaroon(bytes: Uint8Array): Macaroon {
  if (bytes.length === 0) throw new MacaroonFormatError("empty macaroon");
  if (bytes.length > MAX_MACAROON_BYTES) {
    throw new MacaroonFormatError(`macaroon is ${bytes.length} bytes (at most ${MAX_MACAROON_BYTES})`);
  }
  checkVersion(bytes[0]!);
  const reader = new FieldReader(bytes, 1);

  const header = reader.readSection("header", [FIELD_LOCATION, FIELD_IDENTIFIER]);
  const identifier = header.get(FIELD_IDENTIFIER);
  if (identifier === undefined) throw new MacaroonFormatError("header has no identifier");
  const location = header.get(FIELD_LOCATION);

  const caveats: Caveat[] = [];
  // An empty section (a bare EOS) ends the caveat list.
  while (!reader.atEos()) {
    if (caveats.length === MAX_CAVEATS) {
      throw new MacaroonFormatError(`too many caveats (at most ${MAX_CAVEATS})`);
    }
    caveats.push(readCaveat(reader, caveats.length));
  }
  reader.readEos("caveat list");

  const signature = reader.readField("signature");
  if (signature.type !== FIELD_SIGNATURE) {
    throw new MacaroonFormatError(`expected signature after caveats, found ${fieldName(signature.type)}`);
  }
  if (signature.data.length !== SIGNATURE_BYTES) {
    throw new MacaroonFormatError(`signature must be ${SIGNATURE_BYTES} bytes, got ${signature.data.length}`);
  }
  if (!reader.done()) {
    throw new MacaroonFormatError(`${reader.remaining()} unexpected trailing bytes after the signature`);
  }

  return {
    ...(location !== undefined ? { location: decodeLocation(location, "macaroon location") } : {}),
    identifier,
    caveats,
    signature: signature.data,
  };
}

function checkVersion(first: number): void {
  if (first === MACAROON_FORMAT_VERSION) return;
  // Say what it looks like: v1 starts with an ASCII hex length, JSON with a brace.
  const isAsciiHex = (first >= 0x30 && first <= 0x39) || (first >= 0x61 && first <= 0x66);
  if (isAsciiHex) throw new MacaroonFormatError("macaroon is in the v1 format; only v2 binary is accepted");
  if (first === 0x7b) throw new MacaroonFormatError("macaroon is JSON; only v2 binary is accepted");
  throw new MacaroonFormatError(`unsupported macaroon version byte 0x${first.toString(16).padStart(2, "0")}`);
}

function readCaveat(reader: FieldReader, index: number): Caveat {
  const what = `caveat ${index}`;
  const fields = reader.readSection(what, [FIELD_LOCATION, FIELD_IDENTIFIER, FIELD_VID]);
  const identifier = fields.get(FIELD_IDENTIFIER);
  if (identifier === undefined) throw new MacaroonFormatError(`${what} has no identifier`);
  const location = fields.get(FIELD_LOCATION);
  const verificationId = fields.get(FIELD_VID);
  if (location !== undefined && verificationId === undefined) {
    throw new MacaroonFormatError(`${what}: a location is only allowed on third-party caveats`);
  }
  return {
    identifier,
    ...(verificationId !== undefined ? { verificationId } : {}),
    ...(location !== undefined ? { location: decodeLocation(location, `${what} location`) } : {}),
  };
}

function decodeLocation(bytes: Uint8Array, what: string): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new MacaroonFormatError(`${what} is not valid UTF-8`);
  }
}

class FieldReader {
  readonly #bytes: Uint8Array;
  #pos: number;

  constructor(bytes: Uint8Array, start: number) {
    this.#bytes = bytes;
    this.#pos = start;
  }

  done(): boolean {
    return this.#pos === this.#bytes.length;
  }

  remaining(): number {
    return this.#bytes.length - this.#pos;
  }

  atEos(): boolean {
    if (this.done()) throw new MacaroonFormatError("truncated: caveat list has no end marker");
    return this.#bytes[this.#pos] === EOS;
  }

  readEos(what: string): void {
    if (this.done()) throw new MacaroonFormatError(`truncated: ${what} has no end marker`);
    const type = this.#readUvarint(what);
    if (type !== EOS) throw new MacaroonFormatError(`${what}: expected end marker, found ${fieldName(type)}`);
  }

  /**
   * Reads fields up to the next EOS. `allowed` is the grammar's order; each type may appear once,
   * in that order, which also rejects duplicates.
   */
  readSection(what: string, allowed: readonly number[]): Map<number, Uint8Array> {
    const fields = new Map<number, Uint8Array>();
    let previous = EOS;
    for (;;) {
      if (this.done()) throw new MacaroonFormatError(`truncated: ${what} has no end marker`);
      const type = this.#readUvarint(what);
      if (type === EOS) return fields;
      if (!allowed.includes(type)) {
        throw new MacaroonFormatError(`${what}: ${fieldName(type)} is not allowed here`);
      }
      if (type <= previous) {
        throw new MacaroonFormatError(`${what}: ${fieldName(type)} is out of order or repeated`);
      }
      fields.set(type, this.#readPayload(what, type));
      previous = type;
    }
  }

  /** Reads one non-EOS field. */
  readField(what: string): Field {
    if (this.done()) throw new MacaroonFormatError(`truncated: missing ${what}`);
    const type = this.#readUvarint(what);
    if (type === EOS) throw new MacaroonFormatError(`expected ${what}, found an end marker`);
    return { type, data: this.#readPayload(what, type) };
  }

  #readPayload(what: string, type: number): Uint8Array {
    const length = this.#readUvarint(`${what} ${fieldName(type)} length`);
    if (length > MAX_FIELD_BYTES) {
      throw new MacaroonFormatError(`${what}: ${fieldName(type)} is ${length} bytes (at most ${MAX_FIELD_BYTES})`);
    }
    if (length > this.remaining()) {
      throw new MacaroonFormatError(`truncated: ${what} ${fieldName(type)} extends past the end`);
    }
    // Copy, so the macaroon neither aliases the input nor is a Buffer when the input was one.
    const data = new Uint8Array(this.#bytes.subarray(this.#pos, this.#pos + length));
    this.#pos += length;
    return data;
  }

  #readUvarint(what: string): number {
    let value = 0;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.done()) throw new MacaroonFormatError(`truncated: ${what} ends inside a varint`);
      const byte = this.#bytes[this.#pos++]!;
      value += (byte & 0x7f) * 2 ** (7 * i);
      if (byte < 0x80) {
        // A zero final byte after others is an over-long encoding: one value, one encoding.
        if (byte === 0 && i > 0) throw new MacaroonFormatError(`${what}: non-minimal varint`);
        return value;
      }
    }
    throw new MacaroonFormatError(`${what}: varint is too long`);
  }
}
