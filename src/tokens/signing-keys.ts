import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import type { Sealer } from "../keys/sealer.js";
import type { SigilDb } from "../store/database.js";
import { findActiveSigningKey, insertSigningKey, listPublishedSigningKeys, retireSigningKey } from "../store/signing-key-repository.js";
import type { SigningKeyRow } from "../store/tables/signing-keys-table.js";

/** A public JWK as published in the JWKS. */
export interface PublicJwk {
  readonly kty: string;
  readonly crv: string;
  readonly x: string;
  readonly kid: string;
  readonly alg: string;
  readonly use: string;
}

export interface ActiveSigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
}

export const SIGNING_ALG = "EdDSA";

/**
 * The Ed25519 keys that sign derived JWTs. Generated on first start, persisted sealed under the
 * server secret, replaced after the rotation period; retired keys stay published until every
 * token they signed has expired (retirement + longest token lifetime).
 */
export class SigningKeys {
  readonly #db: SigilDb;
  readonly #sealer: Sealer;
  readonly #rotationMs: number;
  readonly #maxTokenTtlMs: number;
  #active: ActiveSigningKey | undefined;
  #published = new Map<string, { jwk: PublicJwk; key: KeyObject }>();
  #lastRefresh = 0;

  constructor(db: SigilDb, sealer: Sealer, options: { rotationMs: number; maxTokenTtlMs: number }) {
    this.#db = db;
    this.#sealer = sealer;
    this.#rotationMs = options.rotationMs;
    this.#maxTokenTtlMs = options.maxTokenTtlMs;
  }

  /** Loads the active key, creating or rotating it when needed. */
  async init(now = Date.now()): Promise<void> {
    let row = await findActiveSigningKey(this.#db);
    if (row && now - Number(row.create_time) >= this.#rotationMs) {
      await retireSigningKey(this.#db, row.kid, now);
      row = undefined;
    }
    if (!row) row = await this.#create(now);
    this.#active = { kid: row.kid, privateKey: createPrivateKey({ key: this.#sealer.unseal(row.sealed_private_key, row.kid), format: "der", type: "pkcs8" }) };
    await this.refresh(now);
  }

  async #create(now: number): Promise<SigningKeyRow> {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const kid = randomBytes(12).toString("base64url");
    const jwk = publicKey.export({ format: "jwk" });
    const row: SigningKeyRow = {
      kid,
      alg: SIGNING_ALG,
      public_jwk: JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid, alg: SIGNING_ALG, use: "sig" }),
      // The sealing binds the ciphertext to its kid, so rows cannot be swapped.
      sealed_private_key: this.#sealer.seal(privateKey.export({ format: "der", type: "pkcs8" }), kid),
      create_time: now,
      retire_time: null,
    };
    await insertSigningKey(this.#db, row);
    return (await findActiveSigningKey(this.#db)) ?? row;
  }

  /** Re-reads the published keys (another instance may have rotated). */
  async refresh(now = Date.now()): Promise<void> {
    const rows = await listPublishedSigningKeys(this.#db, now - this.#maxTokenTtlMs);
    const published = new Map<string, { jwk: PublicJwk; key: KeyObject }>();
    for (const row of rows) {
      const jwk = JSON.parse(row.public_jwk) as PublicJwk;
      published.set(row.kid, { jwk, key: createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: "jwk" }) });
    }
    this.#published = published;
    this.#lastRefresh = now;
  }

  get active(): ActiveSigningKey {
    if (!this.#active) throw new Error("SigningKeys.init() was not called");
    return this.#active;
  }

  /** The verification key for a kid, or undefined. Unknown kids trigger at most one refresh per second. */
  async publicKey(kid: string, now = Date.now()): Promise<KeyObject | undefined> {
    const hit = this.#published.get(kid);
    if (hit) return hit.key;
    if (now - this.#lastRefresh < 1000) return undefined;
    await this.refresh(now);
    return this.#published.get(kid)?.key;
  }

  publicKeySync(kid: string): KeyObject | undefined {
    return this.#published.get(kid)?.key;
  }

  jwks(): PublicJwk[] {
    return [...this.#published.values()].map((p) => p.jwk);
  }
}
