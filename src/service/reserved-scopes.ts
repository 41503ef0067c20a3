import { Code, ConnectError } from "@connectrpc/connect";
import type { KeyRecord } from "../keys/key-record.js";
import { invalid } from "./request-validation.js";

/** Scopes that give a key a role in Sigil itself (sigil:admin, sigil:verify, and any added later). */
export const RESERVED_SCOPE_PREFIX = "sigil:";

/**
 * Why imported keys may not hold them: an imported string comes from another system and may be as
 * short as 8 characters, so it may be guessable; a Sigil key has a 256-bit secret. A role in Sigil
 * itself needs a Sigil key: rotate the imported key (RotateKey gives it one), then grant the role.
 */
export function reservedScopesIn(scopes: readonly string[]): string[] {
  return scopes.filter((s) => s.startsWith(RESERVED_SCOPE_PREFIX));
}

/** ImportKey / BatchImportKeys: INVALID_ARGUMENT naming the field when the request holds one. */
export function requireNoReservedScopesOnImport(scopes: readonly string[], field: string): void {
  const reserved = reservedScopesIn(scopes);
  if (reserved.length === 0) return;
  throw invalid(
    `${field}: ${reserved.join(" ")} cannot be held by an imported key (its string may be short enough to guess); ` +
      `import it without, rotate it to a Sigil key (RotateKey), then add the scope with UpdateKey`,
  );
}

/**
 * UpdateKey: FAILED_PRECONDITION when the new scopes hold a reserved one and the key still verifies
 * with an imported string (its current secret, or the previous one while a rotation's grace runs).
 */
export function requireNoReservedScopesOnImportedSecret(record: KeyRecord, scopes: readonly string[], nowMs: number): void {
  const reserved = reservedScopesIn(scopes);
  if (reserved.length === 0) return;
  const previous = record.previousSecret;
  const importedPrevious = previous !== null && previous.imported && previous.expireTime > nowMs;
  if (!record.secretImported && !importedPrevious) return;
  const what = record.secretImported
    ? "is still on an imported key string; rotate it to a Sigil key first (RotateKey)"
    : "still accepts its imported key string until the rotation's grace period ends; rotate it again with grace_period 0s, or wait";
  throw new ConnectError(`key.scopes: ${reserved.join(" ")} cannot be held by key ${record.keyId}: it ${what}`, Code.FailedPrecondition);
}
