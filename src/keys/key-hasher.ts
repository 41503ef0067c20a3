import { createHmac, timingSafeEqual } from "node:crypto";
import type { ServerSecrets } from "./server-secrets.js";

/**
 * Keyed hashes of API key secrets: HMAC-SHA256(server secret[version], key id ":" secret).
 * A leaked database alone neither reveals keys nor lets anyone test guesses offline.
 */
export class KeyHasher {
  readonly #secrets: ServerSecrets;

  constructor(secrets: ServerSecrets) {
    this.#secrets = secrets;
  }

  get currentVersion(): number {
    return this.#secrets.current;
  }

  hash(keyId: string, secret: string, version = this.#secrets.current): Buffer {
    const serverSecret = this.#secrets.byVersion.get(version);
    if (!serverSecret) throw new Error(`server secret version ${version} is not configured`);
    return createHmac("sha256", serverSecret).update(keyId).update(":").update(secret).digest();
  }

  /** Constant-time check of a presented secret against a stored hash. False for unknown versions. */
  matches(keyId: string, secret: string, storedHash: Buffer, version: number): boolean {
    if (!this.#secrets.byVersion.has(version)) return false;
    const candidate = this.hash(keyId, secret, version);
    return candidate.length === storedHash.length && timingSafeEqual(candidate, storedHash);
  }
}
