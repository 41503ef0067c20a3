import { randomBytes } from "node:crypto";

export const BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE62_PATTERN = /^[0-9A-Za-z]*$/;

/** True when every character of `s` is in the base62 alphabet. */
export function isBase62(s: string): boolean {
  return BASE62_PATTERN.test(s);
}

/**
 * Uniformly random base62 string of `length` characters.
 * Rejection sampling (bytes < 248 = 4 * 62) keeps every character equally likely.
 */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    const bytes = randomBytes(length + 8);
    for (let i = 0; i < bytes.length && out.length < length; i++) {
      const b = bytes[i]!;
      if (b < 248) out += BASE62_ALPHABET[b % 62];
    }
  }
  return out;
}

/** Fixed-width base62 encoding of an unsigned 32-bit integer (6 characters cover 2^32). */
export function encodeUint32Base62(value: number, width = 6): string {
  let v = value >>> 0;
  let out = "";
  for (let i = 0; i < width; i++) {
    out = BASE62_ALPHABET[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out;
}
