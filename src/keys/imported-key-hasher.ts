import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { ServerSecrets } from "./server-secrets.js";

/** Shortest and longest imported key string, and the characters it may hold (printable ASCII, no space). */
export const IMPORTED_KEY_MIN_CHARS = 8;
export const IMPORTED_KEY_MAX_CHARS = 512;
const IMPORTED_KEY_PATTERN = /^[\x21-\x7e]+$/;

/** Sigil's key layout under any prefix (another deployment's, or a mistyped one). */
const SIGIL_KEY_SHAPE = /^[a-z][a-z0-9]{1,15}_[0-9A-Za-z]{16}_[0-9A-Za-z]{49}$/;

/**
 * Whether a string could be an imported key: checked before any hashing or storage access.
 * Strings in Sigil's own key layout never are (they are refused at import), so a lookalike or
 * mistyped Sigil key stays MALFORMED without a lookup.
 */
export function isPlausibleImportedKey(credential: string): boolean {
  return (
    credential.length >= IMPORTED_KEY_MIN_CHARS &&
    credential.length <= IMPORTED_KEY_MAX_CHARS &&
    IMPORTED_KEY_PATTERN.test(credential) &&
    !SIGIL_KEY_SHAPE.test(credential)
  );
}

/** Whether a string has Sigil's key layout (any prefix). */
export function hasSigilKeyShape(credential: string): boolean {
  return SIGIL_KEY_SHAPE.test(credential);
}

export function sha256Of(credential: string): Buffer {
  return createHash("sha256").update(credential, "utf8").digest();
}

/**
 * Keyed hashes of imported keys. Imported strings have no key id to find their row by, so the row
 * is found by this hash, which is computed from SHA-256(key string): the same value whether the
 * import brought the raw string or only its SHA-256 (systems that kept only hashes).
 * HMAC-SHA256(server secret[version], "sigil-import:" SHA-256): like native keys, a leaked database
 * alone lets no one test guesses.
 */
export class ImportedKeyHasher {
  readonly #secrets: ServerSecrets;

  constructor(secrets: ServerSecrets) {
    this.#secrets = secrets;
  }

  get currentVersion(): number {
    return this.#secrets.current;
  }

  /** Every configured version, current first (retired ones still find rows not yet re-hashed). */
  get versions(): number[] {
    return [...this.#secrets.byVersion.keys()].sort((a, b) => (a === this.#secrets.current ? -1 : b === this.#secrets.current ? 1 : b - a));
  }

  lookupHash(sha256: Buffer, version = this.#secrets.current): Buffer {
    const serverSecret = this.#secrets.byVersion.get(version);
    if (!serverSecret) throw new Error(`server secret version ${version} is not configured`);
    return createHmac("sha256", serverSecret).update("sigil-import:").update(sha256).digest();
  }

  /** Constant-time check of a presented key's SHA-256 against a stored lookup hash. */
  matches(sha256: Buffer, storedHash: Buffer, version: number): boolean {
    if (!this.#secrets.byVersion.has(version)) return false;
    const candidate = this.lookupHash(sha256, version);
    return candidate.length === storedHash.length && timingSafeEqual(candidate, storedHash);
  }
}
