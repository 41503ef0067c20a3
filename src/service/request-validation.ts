import { Code, ConnectError } from "@connectrpc/connect";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { formatDurationMs } from "../config/duration.js";
import { KEY_ID_PATTERN } from "../keys/api-key-format.js";

/** Every bound on outside input, in one place (the proto comments state the same numbers). */
export const LIMITS = {
  nameChars: 128,
  ownerChars: 128,
  scopes: 64,
  scopeChars: 128,
  metadataEntries: 32,
  metadataKeyChars: 64,
  metadataValueChars: 512,
  requestIdChars: 128,
  reasonChars: 512,
  audienceChars: 256,
  credentialChars: 8192,
  maxKeyTtlMs: 10 * 365 * 86_400_000,
  maxRotationGraceMs: 30 * 86_400_000,
  maxPageSize: 1000,
  defaultPageSize: 100,
  pageTokenChars: 512,
} as const;

const SCOPE_PATTERN = /^[A-Za-z0-9:._/*-]+$/;
const METADATA_KEY_PATTERN = /^[A-Za-z0-9._/-]+$/;
const OWNER_PATTERN = /^[\x21-\x7e]+$/;

/**
 * Characters no text field may hold, whatever the protocol: C0 controls, DEL, C1 controls (U+009B
 * is a terminal's CSI), the bidirectional formatting characters (U+202E reverses what follows) and
 * the line and paragraph separators. Stored text is shown by terminals, log viewers and admin UIs,
 * where these would rewrite or hide what is displayed. The CLI escapes the same set on output.
 */
// eslint-disable-next-line no-control-regex
export const UNSAFE_TEXT_CHARS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

export function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** Text without UNSAFE_TEXT_CHARS; the error names the field and the character (never the text). */
export function requireSafeText(value: string, field: string): string {
  const found = UNSAFE_TEXT_CHARS.exec(value);
  if (found) {
    const code = found[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    throw invalid(`${field}: must not contain control or bidirectional-formatting characters (U+${code} at position ${found.index})`);
  }
  return value;
}

export function requireName(name: string, field = "name"): string {
  if (name.length === 0 || name.length > LIMITS.nameChars) throw invalid(`${field}: must be 1 to ${LIMITS.nameChars} characters`);
  return requireSafeText(name, field);
}

export function requireOwner(owner: string): string {
  if (owner.length === 0 || owner.length > LIMITS.ownerChars || !OWNER_PATTERN.test(owner)) {
    throw invalid(`owner: must be 1 to ${LIMITS.ownerChars} printable ASCII characters without spaces`);
  }
  return owner;
}

/** Checks each scope and drops duplicates (keeping the first order). */
export function requireScopes(scopes: readonly string[], field = "scopes"): string[] {
  if (scopes.length > LIMITS.scopes) throw invalid(`${field}: at most ${LIMITS.scopes} scopes, got ${scopes.length}`);
  let duplicates = false;
  for (let i = 0; i < scopes.length; i++) {
    const scope = scopes[i]!;
    if (scope.length === 0 || scope.length > LIMITS.scopeChars || !SCOPE_PATTERN.test(scope)) {
      throw invalid(`${field}[${i}]: must be 1 to ${LIMITS.scopeChars} characters of A-Z a-z 0-9 : . _ / * -`);
    }
    if (!duplicates && scopes.indexOf(scope) !== i) duplicates = true;
  }
  // VerifyKey checks this on every call: no copy unless there is something to drop.
  return duplicates ? [...new Set(scopes)] : (scopes as string[]);
}

export function requireMetadata(metadata: Record<string, string>, field = "metadata"): Record<string, string> {
  const entries = Object.entries(metadata);
  if (entries.length > LIMITS.metadataEntries) throw invalid(`${field}: at most ${LIMITS.metadataEntries} entries, got ${entries.length}`);
  for (const [key, value] of entries) {
    if (key.length === 0 || key.length > LIMITS.metadataKeyChars || !METADATA_KEY_PATTERN.test(key)) {
      throw invalid(`${field}: keys must be 1 to ${LIMITS.metadataKeyChars} characters of A-Z a-z 0-9 . _ / -`);
    }
    // The key is quoted only once it is known to be of the safe characters above.
    if (value.length > LIMITS.metadataValueChars) throw invalid(`${field}["${key}"]: value is longer than ${LIMITS.metadataValueChars} characters`);
    requireSafeText(value, `${field}["${key}"]`);
  }
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function requireKeyId(keyId: string, field = "key_id"): string {
  if (!KEY_ID_PATTERN.test(keyId)) throw invalid(`${field}: must be a 16-character base62 key id`);
  return keyId;
}

export function requireBoundedText(value: string, field: string, maxChars: number): string {
  if (value.length > maxChars) throw invalid(`${field}: must be at most ${maxChars} characters`);
  return requireSafeText(value, field);
}

export function requireCredentialText(value: string, field: string): string {
  if (value.length > LIMITS.credentialChars) throw invalid(`${field}: longer than ${LIMITS.credentialChars} characters`);
  return value;
}

const MAX_NANOS = 999_999_999;
/** google.protobuf.Duration's range: about ±10,000 years. */
const MAX_DURATION_SECONDS = 315_576_000_000n;
/** google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
const MIN_TIMESTAMP_SECONDS = -62_135_596_800n;
const MAX_TIMESTAMP_SECONDS = 253_402_300_799n;

/**
 * Duration to milliseconds, checked to be a well-formed google.protobuf.Duration (nanos within
 * ±999,999,999 and of the sign of seconds: a binary message can carry nanos of 2e9, which would
 * otherwise add 2 s) that lies within [minMs, maxMs].
 */
export function durationMs(d: Duration, field: string, minMs: number, maxMs: number): number {
  if (d.nanos < -MAX_NANOS || d.nanos > MAX_NANOS || !Number.isInteger(d.nanos)) throw invalid(`${field}: nanos must be between -999999999 and 999999999`);
  if ((d.seconds > 0n && d.nanos < 0) || (d.seconds < 0n && d.nanos > 0)) throw invalid(`${field}: seconds and nanos must have the same sign`);
  if (d.seconds > MAX_DURATION_SECONDS || d.seconds < -MAX_DURATION_SECONDS) throw invalid(`${field}: seconds out of range`);
  const ms = Number(d.seconds) * 1000 + Math.trunc(d.nanos / 1e6);
  if (ms < minMs || ms > maxMs) throw invalid(`${field}: must be between ${formatLimitMs(minMs)} and ${formatLimitMs(maxMs)}`);
  return ms;
}

/** A bound as people write it (30d, 1h, 0s), with the seconds beside it when that is a different number. */
function formatLimitMs(ms: number): string {
  const human = ms === 0 ? "0s" : formatDurationMs(ms);
  return ms % 1000 === 0 && human !== `${ms / 1000}s` ? `${human} (${ms / 1000}s)` : human;
}

/** Timestamp to milliseconds, checked to be a well-formed google.protobuf.Timestamp (nanos 0 to 999,999,999). */
export function timestampMs(t: Timestamp, field: string): number {
  if (t.nanos < 0 || t.nanos > MAX_NANOS || !Number.isInteger(t.nanos)) throw invalid(`${field}: nanos must be between 0 and 999999999`);
  if (t.seconds < MIN_TIMESTAMP_SECONDS || t.seconds > MAX_TIMESTAMP_SECONDS) throw invalid(`${field}: must be between 0001-01-01 and 9999-12-31`);
  return Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6);
}
