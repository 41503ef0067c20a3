import { randomFillSync } from "node:crypto";

export const BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE62_PATTERN = /^[0-9A-Za-z]*$/;

/** True when every character of `s` is in the base62 alphabet. */
export function isBase62(s: string): boolean {
  return BASE62_PATTERN.test(s);
}

/**
 * CSPRNG bytes drawn a few KiB at a time: a system call per key id and per secret was most of what
 * making a key cost (issuing, and seeding millions). The pool is its own allocation (no shared
 * Buffer slab beside other data), and each byte is zeroed once taken, so what a memory disclosure
 * could find of it is only bytes not used yet. Private to this module and stateless to callers,
 * like Node's own pool behind randomUUID.
 */
class RandomBytePool {
  readonly #bytes = Buffer.allocUnsafeSlow(4096);
  #at = this.#bytes.length;

  next(): number {
    if (this.#at === this.#bytes.length) {
      randomFillSync(this.#bytes);
      this.#at = 0;
    }
    const b = this.#bytes[this.#at]!;
    this.#bytes[this.#at++] = 0;
    return b;
  }
}

const randomPool = new RandomBytePool();

/**
 * Uniformly random base62 string of `length` characters.
 * Rejection sampling (bytes < 248 = 4 * 62) keeps every character equally likely.
 */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    const b = randomPool.next();
    if (b < 248) out += BASE62_ALPHABET[b % 62];
  }
  return out;
}

/** Fixed-width base62 encoding of an unsigned 32-bit integer (6 characters cover 2^32). */
export function encodeUint32Base62(value: number, width = 6): string {
  return encodeBase62(value >>> 0, width);
}

/**
 * Fixed-width base62 encoding of a non-negative safe integer, most significant digit first. The
 * alphabet is in ASCII order, so equal-width encodings sort as the numbers do.
 */
export function encodeBase62(value: number, width: number): string {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 62 ** width) throw new RangeError(`${value} does not fit ${width} base62 digits`);
  let v = value;
  let out = "";
  for (let i = 0; i < width; i++) {
    out = BASE62_ALPHABET[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out;
}
