import { Code, ConnectError } from "@connectrpc/connect";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
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
  maxPageSize: 1000,
  defaultPageSize: 100,
  pageTokenChars: 512,
} as const;

const SCOPE_PATTERN = /^[A-Za-z0-9:._/*-]+$/;
const METADATA_KEY_PATTERN = /^[A-Za-z0-9._/-]+$/;
const OWNER_PATTERN = /^[\x21-\x7e]+$/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

export function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

export function requireName(name: string): string {
  if (name.length === 0 || name.length > LIMITS.nameChars || CONTROL_CHARS.test(name)) {
    throw invalid(`name: must be 1 to ${LIMITS.nameChars} characters without control characters`);
  }
  return name;
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

export function requireMetadata(metadata: Record<string, string>): Record<string, string> {
  const entries = Object.entries(metadata);
  if (entries.length > LIMITS.metadataEntries) throw invalid(`metadata: at most ${LIMITS.metadataEntries} entries, got ${entries.length}`);
  for (const [key, value] of entries) {
    if (key.length === 0 || key.length > LIMITS.metadataKeyChars || !METADATA_KEY_PATTERN.test(key)) {
      throw invalid(`metadata: keys must be 1 to ${LIMITS.metadataKeyChars} characters of A-Z a-z 0-9 . _ / -`);
    }
    if (value.length > LIMITS.metadataValueChars) throw invalid(`metadata["${key}"]: value is longer than ${LIMITS.metadataValueChars} characters`);
  }
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function requireKeyId(keyId: string, field = "key_id"): string {
  if (!KEY_ID_PATTERN.test(keyId)) throw invalid(`${field}: must be a 16-character base62 key id`);
  return keyId;
}

export function requireBoundedText(value: string, field: string, maxChars: number): string {
  if (value.length > maxChars || CONTROL_CHARS.test(value)) throw invalid(`${field}: must be at most ${maxChars} characters without control characters`);
  return value;
}

export function requireCredentialText(value: string, field: string): string {
  if (value.length > LIMITS.credentialChars) throw invalid(`${field}: longer than ${LIMITS.credentialChars} characters`);
  return value;
}

/** Duration to milliseconds, checked to lie within [minMs, maxMs]. */
export function durationMs(d: Duration, field: string, minMs: number, maxMs: number): number {
  const ms = Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
  if (!Number.isFinite(ms) || d.nanos < 0 || ms < minMs || ms > maxMs) {
    throw invalid(`${field}: must be between ${minMs / 1000}s and ${maxMs / 1000}s`);
  }
  return ms;
}

export function timestampMs(t: Timestamp): number {
  return Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6);
}
