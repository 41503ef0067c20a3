// Just enough HPACK (RFC 7541) for the load generator: an encoder for a request header list that
// never changes on a connection, and a complete decoder for response headers (dynamic table
// included, since servers index freely).
import { decodeHuffman } from "./huffman.js";
import { STATIC_TABLE } from "./static-table.js";

export type HeaderList = Array<[name: string, value: string]>;

function encodeInteger(value: number, prefixBits: number, firstByteFlags: number, out: number[]): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(firstByteFlags | value);
    return;
  }
  out.push(firstByteFlags | max);
  let rest = value - max;
  while (rest >= 0x80) {
    out.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

function encodeString(text: string, out: number[]): void {
  const bytes = Buffer.from(text, "latin1");
  encodeInteger(bytes.length, 7, 0x00, out); // H bit 0: raw octets
  for (const byte of bytes) out.push(byte);
}

/** Headers a real client's encoder (nghttp2) never indexes: credentials are re-sent every time. */
const NEVER_INDEXED = new Set(["authorization", "proxy-authorization", "cookie"]);
const DEFAULT_TABLE_SIZE = 4096;

export interface RequestHeaderBlocks {
  /** For the first request of the connection: adds the headers to the server's dynamic table. */
  first: Buffer;
  /** For every later request: refers to those entries, one or two bytes per header. */
  repeat: Buffer;
}

/**
 * Encodes a fixed request header list the way a real HTTP/2 client does after its first request:
 * indexed references. Sending plain literals every time would make the server decode and allocate
 * every header on every call, a cost real clients (grpc-js, grpc-go, h2load) do not impose.
 * Returns literal-only blocks when the headers would not fit the server's table.
 */
export function encodeRequestHeaderBlocks(headers: HeaderList, serverTableSize = DEFAULT_TABLE_SIZE): RequestHeaderBlocks {
  const indexable = headers.filter(([name, value]) => !NEVER_INDEXED.has(name) && staticIndexOf(name, value) === 0);
  if (indexable.reduce((size, [name, value]) => size + entrySize(name, value), 0) > serverTableSize) {
    const literal = encodeBlock(headers, () => "literal");
    return { first: literal, repeat: literal };
  }
  const first = encodeBlock(headers, () => "insert");
  // After the first block, the last inserted entry is dynamic index 62, the first the highest.
  const dynamicIndex = new Map(indexable.map(([name, value], i) => [`${name}\0${value}`, STATIC_TABLE.length + indexable.length - i]));
  const repeat = encodeBlock(headers, (name, value) => dynamicIndex.get(`${name}\0${value}`) ?? "literal");
  return { first, repeat };
}

type Representation = number | "insert" | "literal" | "never";

function encodeBlock(headers: HeaderList, choose: (name: string, value: string) => Representation): Buffer {
  const out: number[] = [];
  for (const [name, value] of headers) {
    const exact = staticIndexOf(name, value);
    if (exact > 0) {
      encodeInteger(exact, 7, 0x80, out); // §6.1 indexed (static)
      continue;
    }
    const nameIndex = STATIC_TABLE.findIndex(([staticName]) => staticName === name) + 1;
    const representation = NEVER_INDEXED.has(name) ? "never" : choose(name, value);
    if (typeof representation === "number") {
      encodeInteger(representation, 7, 0x80, out); // §6.1 indexed (dynamic)
      continue;
    }
    if (representation === "insert") encodeInteger(nameIndex, 6, 0x40, out); // §6.2.1
    else if (representation === "never") encodeInteger(nameIndex, 4, 0x10, out); // §6.2.3
    else encodeInteger(nameIndex, 4, 0x00, out); // §6.2.2
    if (nameIndex === 0) encodeString(name, out);
    encodeString(value, out);
  }
  return Buffer.from(out);
}

function staticIndexOf(name: string, value: string): number {
  return STATIC_TABLE.findIndex(([n, v]) => n === name && v === value) + 1;
}

/** Size of a table entry as HPACK counts it (§4.1). */
const entrySize = (name: string, value: string): number => name.length + value.length + 32;

export class HpackDecoder {
  /** Newest first, as HPACK indexes it. */
  private readonly dynamic: Array<readonly [string, string]> = [];
  private dynamicSize = 0;
  private maxDynamicSize: number;

  constructor(private readonly maxAllowedTableSize = 4096) {
    this.maxDynamicSize = maxAllowedTableSize;
  }

  decode(block: Buffer): HeaderList {
    const headers: HeaderList = [];
    const cursor = { at: 0 };
    while (cursor.at < block.length) {
      const first = block[cursor.at]!;
      if (first & 0x80) {
        headers.push([...this.entry(this.readInteger(block, cursor, 7))]); // §6.1 indexed
      } else if (first & 0x40) {
        const field = this.readLiteral(block, cursor, 6); // §6.2.1 with incremental indexing
        this.insert(field[0], field[1]);
        headers.push(field);
      } else if (first & 0x20) {
        const size = this.readInteger(block, cursor, 5); // §6.3 dynamic table size update
        if (size > this.maxAllowedTableSize) throw new Error("HPACK: table size update above the limit");
        this.maxDynamicSize = size;
        this.evictTo(size);
      } else {
        headers.push(this.readLiteral(block, cursor, 4)); // §6.2.2/6.2.3 without / never indexed
      }
    }
    return headers;
  }

  private entry(index: number): readonly [string, string] {
    if (index >= 1 && index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const entry = this.dynamic[index - STATIC_TABLE.length - 1];
    if (entry === undefined) throw new Error(`HPACK: bad index ${index}`);
    return entry;
  }

  private readLiteral(block: Buffer, cursor: { at: number }, prefixBits: number): [string, string] {
    const nameIndex = this.readInteger(block, cursor, prefixBits);
    const name = nameIndex === 0 ? this.readString(block, cursor) : this.entry(nameIndex)[0];
    return [name, this.readString(block, cursor)];
  }

  private readInteger(block: Buffer, cursor: { at: number }, prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let value = block[cursor.at++]! & max;
    if (value < max) return value;
    let shift = 1;
    for (;;) {
      if (cursor.at >= block.length) throw new Error("HPACK: truncated integer");
      const byte = block[cursor.at++]!;
      value += (byte & 0x7f) * shift;
      if ((byte & 0x80) === 0) return value;
      shift *= 0x80;
      if (shift > 2 ** 28) throw new Error("HPACK: integer too large");
    }
  }

  private readString(block: Buffer, cursor: { at: number }): string {
    const huffman = (block[cursor.at]! & 0x80) !== 0;
    const length = this.readInteger(block, cursor, 7);
    if (cursor.at + length > block.length) throw new Error("HPACK: truncated string");
    const bytes = block.subarray(cursor.at, cursor.at + length);
    cursor.at += length;
    return huffman ? decodeHuffman(bytes) : bytes.toString("latin1");
  }

  private insert(name: string, value: string): void {
    const size = entrySize(name, value);
    this.evictTo(this.maxDynamicSize - size);
    if (size <= this.maxDynamicSize) {
      this.dynamic.unshift([name, value]);
      this.dynamicSize += size;
    }
  }

  private evictTo(limit: number): void {
    while (this.dynamicSize > Math.max(0, limit) && this.dynamic.length > 0) {
      const [name, value] = this.dynamic.pop()!;
      this.dynamicSize -= entrySize(name, value);
    }
  }
}
