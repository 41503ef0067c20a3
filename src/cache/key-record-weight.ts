import type { KeyRecord } from "../keys/key-record.js";

// Estimated heap bytes of one cached KeyRecord, so the cache can be bounded in memory and not only
// in records (a key's scopes and metadata may be tens of kilobytes). The constants are fitted to
// V8's sizes as measured with --expose-gc over 20,000 records of several shapes (Node 20 and 24
// agree within 2%): test/unit/key-record-weight.test.ts holds the estimate to the measurement.
/** The record object, its numbers, its Map entry and its secret-hash Buffer. */
const RECORD_BYTES = 460;
/** A string's header (and its rounding); its characters come on top. */
const STRING_HEADER_BYTES = 20;
const SCOPE_BYTES = 8;
/** A metadata property; its key's characters are counted, not its header (V8 shares equal keys). */
const METADATA_ENTRY_BYTES = 16;
const PREVIOUS_SECRET_BYTES = 200;
const RATE_LIMIT_BYTES = 40;
const CREDITS_BYTES = 64;
/** The compiled network list (a BlockList and its arrays); each CIDR comes on top. */
const NETWORKS_BYTES = 360;
const CIDR_BYTES = 4;

/** V8 keeps Latin-1 text at one byte per character, anything else at two. */
const chars = (s: string): number => (/^[\x00-\xff]*$/.test(s) ? s.length : 2 * s.length);
const stringBytes = (s: string | null): number => (s === null ? 0 : STRING_HEADER_BYTES + chars(s));

export function keyRecordBytes(r: KeyRecord): number {
  let bytes = RECORD_BYTES + stringBytes(r.keyId) + stringBytes(r.prefix) + stringBytes(r.name) + stringBytes(r.owner) + stringBytes(r.tenantId);
  bytes += stringBytes(r.revokeReason) + stringBytes(r.secretHint);
  for (const scope of r.scopes) bytes += SCOPE_BYTES + stringBytes(scope);
  for (const key in r.metadata) bytes += METADATA_ENTRY_BYTES + chars(key) + stringBytes(r.metadata[key]!);
  if (r.previousSecret) bytes += PREVIOUS_SECRET_BYTES + stringBytes(r.previousSecret.hint);
  if (r.rateLimit) bytes += RATE_LIMIT_BYTES;
  if (r.credits) bytes += CREDITS_BYTES;
  if (r.allowedNetworks) {
    bytes += NETWORKS_BYTES;
    for (const cidr of r.allowedNetworks.cidrs) bytes += CIDR_BYTES + stringBytes(cidr);
  }
  return bytes;
}
