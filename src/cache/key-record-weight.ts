import type { VerifyingKey } from "../keys/verifying-key.js";

// Estimated heap bytes of one cached VerifyingKey, so the cache can be bounded in memory and not only
// in records (a key's scopes and metadata may be tens of kilobytes). The constants are fitted to
// V8's sizes as measured with --expose-gc over 20,000 keys of several shapes read as a cache miss
// reads them and as the cache and the verifier keep them (fitted on Node 20, RECORD_BYTES raised on
// Node 24 for the cache's list node and the secret memo; the full KeyRecords cached before took
// about 270 B more each): test/unit/key-record-weight.test.ts holds the estimate to the measurement.
/**
 * The key object, its numbers, its cache entry (LruCache's Map slot and list node, ~55 B), its
 * secret-hash Buffer, and the verifier's memo of the matched secret's SHA-256 (~35 B).
 */
const RECORD_BYTES = 405;
/** A string's header (and its rounding); its characters come on top. */
const STRING_HEADER_BYTES = 20;
const SCOPE_BYTES = 8;
/** A metadata property; its key's characters are counted, not its header (V8 shares equal keys). */
const METADATA_ENTRY_BYTES = 8;
const PREVIOUS_SECRET_BYTES = 200;
const RATE_LIMIT_BYTES = 40;
const CREDITS_BYTES = 64;
/** The compiled network list (a BlockList and its arrays); each CIDR comes on top. */
const NETWORKS_BYTES = 360;
const CIDR_BYTES = 4;

/** V8 keeps Latin-1 text at one byte per character, anything else at two. */
const chars = (s: string): number => (/^[\x00-\xff]*$/.test(s) ? s.length : 2 * s.length);
const stringBytes = (s: string | null): number => (s === null ? 0 : STRING_HEADER_BYTES + chars(s));

export function keyRecordBytes(r: VerifyingKey): number {
  let bytes = RECORD_BYTES + stringBytes(r.keyId) + stringBytes(r.owner) + stringBytes(r.tenantId);
  for (const scope of r.scopes) bytes += SCOPE_BYTES + stringBytes(scope);
  for (const key in r.metadata) bytes += METADATA_ENTRY_BYTES + chars(key) + stringBytes(r.metadata[key]!);
  if (r.previousSecret) bytes += PREVIOUS_SECRET_BYTES;
  if (r.rateLimit) bytes += RATE_LIMIT_BYTES;
  if (r.credits) bytes += CREDITS_BYTES;
  if (r.allowedNetworks) {
    bytes += NETWORKS_BYTES;
    for (const cidr of r.allowedNetworks.cidrs) bytes += CIDR_BYTES + stringBytes(cidr);
  }
  return bytes;
}
