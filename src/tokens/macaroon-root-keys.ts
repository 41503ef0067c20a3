import { createHmac } from "node:crypto";
import type { ServerSecrets } from "../keys/server-secrets.js";

/**
 * Root keys of derived macaroons: HMAC(server secret, "sigil macaroon root v1:" key id).
 * Derived, never stored. New macaroons use the current server secret; verification also tries
 * retired versions so a secret rotation does not cut off macaroons minted just before it.
 */
export class MacaroonRootKeys {
  readonly #secrets: ServerSecrets;
  readonly #versions: number[];

  constructor(secrets: ServerSecrets) {
    this.#secrets = secrets;
    this.#versions = [...secrets.byVersion.keys()].sort((a, b) => (a === secrets.current ? -1 : b === secrets.current ? 1 : b - a));
  }

  forMinting(keyId: string): Buffer {
    return this.#derive(keyId, this.#secrets.current);
  }

  /** Candidate root keys for verification, current version first. */
  forVerifying(keyId: string): Buffer[] {
    return this.#versions.map((v) => this.#derive(keyId, v));
  }

  #derive(keyId: string, version: number): Buffer {
    return createHmac("sha256", this.#secrets.byVersion.get(version)!).update(`sigil macaroon root v1:${keyId}`).digest();
  }
}
