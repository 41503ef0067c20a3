import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import type { ServerSecrets } from "./server-secrets.js";

/**
 * Authenticated encryption (AES-256-GCM) of values Sigil must keep but never store in clear:
 * JWT signing keys and, for idempotent retries, freshly issued secrets.
 * The key is derived from the versioned server secret with HKDF, one key per purpose.
 * Sealed form: `v<version>.<iv>.<ciphertext>.<tag>` (base64url parts).
 */
export class Sealer {
  readonly #keys = new Map<number, Buffer>();
  readonly #current: number;

  constructor(secrets: ServerSecrets, purpose: string) {
    this.#current = secrets.current;
    for (const [version, secret] of secrets.byVersion) {
      this.#keys.set(version, Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), `sigil seal: ${purpose}`, 32)));
    }
  }

  seal(plaintext: Buffer, associatedData: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.#keys.get(this.#current)!, iv);
    cipher.setAAD(Buffer.from(associatedData));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return `v${this.#current}.${iv.toString("base64url")}.${ct.toString("base64url")}.${cipher.getAuthTag().toString("base64url")}`;
  }

  /** Throws when the value was tampered with, bound to other data, or sealed under an unknown version. */
  unseal(sealed: string, associatedData: string): Buffer {
    const m = /^v(\d+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]+)$/.exec(sealed);
    if (!m) throw new Error("sealed value is malformed");
    const key = this.#keys.get(Number(m[1]));
    if (!key) throw new Error(`sealed with server secret version ${m[1]}, which is not configured`);
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(m[2]!, "base64url"));
    decipher.setAAD(Buffer.from(associatedData));
    decipher.setAuthTag(Buffer.from(m[4]!, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(m[3]!, "base64url")), decipher.final()]);
  }
}
