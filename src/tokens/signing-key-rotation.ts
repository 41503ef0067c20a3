import { generateKeyPairSync, randomBytes } from "node:crypto";
import type { Transaction } from "kysely";
import type { Sealer } from "../keys/sealer.js";
import { appendAuditEvent } from "../store/audit-repository.js";
import { appendChanges } from "../store/change-feed-repository.js";
import type { Database, SigilDb } from "../store/database.js";
import { insertSigningKey, retireActiveSigningKey, revokeRetiredSigningKeys } from "../store/signing-key-repository.js";
import type { NewChangeRow } from "../store/tables/change-feed-table.js";
import type { SigningKeyRow } from "../store/tables/signing-keys-table.js";
import { isUniqueViolation } from "../store/unique-violation.js";
import { SIGNING_ALG, type SigningKeys } from "./signing-keys.js";

export interface RotationRequest {
  /** The key the caller believes is active; nothing happens unless it still is. */
  readonly expectedKid: string;
  /** Revoke the replaced key and every retired key still published, instead of retiring it. */
  readonly retireNow: boolean;
  /** The admin key that asked; null for a scheduled rotation. */
  readonly actorKeyId: string | null;
  /** Re-checks the caller inside the transaction (throws to abort it). */
  readonly authorize?: (tx: Transaction<Database>) => Promise<void>;
}

export interface RotationResult {
  readonly newKid: string;
  /** The replaced key when it only retired (its tokens keep verifying). */
  readonly retiredKids: readonly string[];
  /** The keys revoked (retire_now): their tokens stop verifying. */
  readonly revokedKids: readonly string[];
}

/**
 * Writes signing-key changes: the first key of a fresh database, and rotations. Each is one
 * transaction holding the key rows, their change-feed rows (how every other process learns of it)
 * and, for rotations, the audit event. Racing processes are safe on both engines: the rotation is
 * conditional on the expected key still being active (exactly one racer retires it), and a unique
 * index allows one active key, so two first keys cannot both commit.
 */
export class SigningKeyRotator {
  readonly #db: SigilDb;
  readonly #sealer: Sealer;
  readonly #keys: SigningKeys;
  readonly #now: () => number;

  constructor(db: SigilDb, sealer: Sealer, keys: SigningKeys, options: { now: () => number }) {
    this.#db = db;
    this.#sealer = sealer;
    this.#keys = keys;
    this.#now = options.now;
  }

  /** Loads the keys, creating the first one when the database has none active. */
  async ensureActive(): Promise<void> {
    await this.#keys.refresh();
    if (this.#keys.active) return;
    const now = this.#now();
    const row = this.#newKey(now);
    try {
      await this.#db.transaction().execute(async (tx) => {
        await insertSigningKey(tx, row);
        await appendChanges(tx, [signingKeyChange(row.kid, "signing_key_add", null, now)]);
      });
    } catch (err) {
      // Another process created it first: use that one.
      if (!isUniqueViolation(err)) throw err;
    }
    await this.#keys.refresh();
    if (!this.#keys.active) throw new Error("no active JWT signing key after creating one");
  }

  /**
   * Replaces `expectedKid` with a new key, if it is still the active one; undefined when another
   * process rotated first (the view is re-read either way). This process signs with the new key
   * before it returns.
   */
  async rotate(request: RotationRequest): Promise<RotationResult | undefined> {
    const now = this.#now();
    const row = this.#newKey(now);
    const result = await this.#db.transaction().execute(async (tx): Promise<RotationResult | undefined> => {
      await request.authorize?.(tx);
      if (!(await retireActiveSigningKey(tx, request.expectedKid, now, request.retireNow))) return undefined;
      const alsoRevoked = request.retireNow ? await revokeRetiredSigningKeys(tx, now - this.#keys.publishWindowMs, now) : [];
      await insertSigningKey(tx, row);
      const revokedKids = request.retireNow ? [request.expectedKid, ...alsoRevoked.filter((k) => k !== request.expectedKid)] : [];
      const retiredKids = request.retireNow ? [] : [request.expectedKid];
      const actor = request.actorKeyId;
      // Revocations first: a follower that reads this batch stops accepting old tokens before it signs anew.
      await appendChanges(tx, [
        ...revokedKids.map((kid) => signingKeyChange(kid, "signing_key_revoke", actor, now)),
        ...retiredKids.map((kid) => signingKeyChange(kid, "signing_key_retire", actor, now)),
        signingKeyChange(row.kid, "signing_key_add", actor, now),
      ]);
      await appendAuditEvent(tx, {
        time: now,
        action: "rotate_signing_key",
        keyId: "",
        actorKeyId: actor,
        details: { kid: row.kid, retired_kids: retiredKids, revoked_kids: revokedKids, retire_now: request.retireNow, scheduled: actor === null },
      });
      return { newKid: row.kid, retiredKids, revokedKids };
    });
    if (result) for (const kid of result.revokedKids) this.#keys.revokeLocally(kid, now);
    await this.#keys.refresh();
    return result;
  }

  #newKey(now: number): SigningKeyRow {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const kid = randomBytes(12).toString("base64url");
    const jwk = publicKey.export({ format: "jwk" });
    return {
      kid,
      alg: SIGNING_ALG,
      public_jwk: JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid, alg: SIGNING_ALG, use: "sig" }),
      // The sealing binds the ciphertext to its kid, so rows cannot be swapped.
      sealed_private_key: this.#sealer.seal(privateKey.export({ format: "der", type: "pkcs8" }), kid),
      create_time: now,
      retire_time: null,
      revoke_time: null,
    };
  }
}

function signingKeyChange(kid: string, action: NewChangeRow["action"], actorKeyId: string | null, time: number): NewChangeRow {
  return { key_id: null, signing_key_id: kid, action, reason: null, actor_key_id: actorKeyId, time };
}
