import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { Sealer } from "../keys/sealer.js";
import type { SigilDb } from "../store/database.js";
import { listCurrentSigningKeys } from "../store/signing-key-repository.js";
import type { ChangeRow } from "../store/tables/change-feed-table.js";

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
  readonly createTime: number;
}

/** What a JWT's `kid` resolves to: its public key, "revoked" (reject by name), or unknown. */
export type SigningKeyLookup = KeyObject | "revoked" | undefined;

export const SIGNING_ALG = "EdDSA";

/**
 * How much longer than the longest token lifetime a retired key stays published. It covers the
 * tokens a process signed with a key before it heard (through the change feed) that another
 * process had retired it, whole-second rounding of `exp`, and clock differences between instances.
 */
export const RETIRED_KEY_MARGIN_MS = 5 * 60_000;

/** Unknown kids make this process re-read the keys at most this often (tokens of a key made elsewhere a moment ago). */
const UNKNOWN_KID_REFRESH_MS = 1000;

interface PublishedKey {
  readonly jwk: PublicJwk;
  readonly key: KeyObject;
  /** When it leaves the JWKS (Infinity for the active key). */
  readonly until: number;
}

/** The feed rows SigningKeys reacts to, as the change-feed follower hands them out. */
export interface SigningKeyFeedUpdate {
  readonly changes: readonly ChangeRow[];
  readonly reset: boolean;
}

/**
 * This process's view of the Ed25519 keys that sign derived JWTs: the active key it signs with,
 * the keys it publishes (active, and retired ones until every token they signed has expired), and
 * the revoked kids it rejects by name. The rows live in `signing_keys` (private keys sealed under
 * the server secret); rotations made anywhere reach this view through the change feed
 * (`applyFeed`), and writes go through SigningKeyRotator. Revocation is final here: a later read
 * that started before a revocation committed cannot publish the key again.
 */
export class SigningKeys {
  readonly #db: SigilDb;
  readonly #sealer: Sealer;
  readonly #maxTokenTtlMs: number;
  readonly #now: () => number;
  readonly #log: Logger;
  #active: ActiveSigningKey | undefined;
  #published = new Map<string, PublishedKey>();
  /** kid -> until when it is reported as revoked (after that its tokens have expired anyway). */
  #revoked = new Map<string, number>();
  #lastRefresh = -Infinity;
  #refreshing: Promise<void> | undefined;
  #again = false;

  constructor(db: SigilDb, sealer: Sealer, options: { maxTokenTtlMs: number; now: () => number; log: Logger }) {
    this.#db = db;
    this.#sealer = sealer;
    this.#maxTokenTtlMs = options.maxTokenTtlMs;
    this.#now = options.now;
    this.#log = options.log;
  }

  /** How long a key stays published after it retired: the longest token lifetime plus the margin. */
  get publishWindowMs(): number {
    return this.#maxTokenTtlMs + RETIRED_KEY_MARGIN_MS;
  }

  /** The key this process signs with now; undefined before the first key exists or while a revoked one is being replaced. */
  get active(): ActiveSigningKey | undefined {
    return this.#active;
  }

  /** The key to sign with; waits for one re-read if the active key was just revoked. */
  async signingKey(): Promise<ActiveSigningKey> {
    if (!this.#active) await this.refresh();
    if (!this.#active) throw new ConnectError("no JWT signing key is active right now (one is being replaced); try again", Code.Unavailable);
    return this.#active;
  }

  /**
   * Re-reads the keys. Calls during a read share it, and one more read follows, so a caller
   * always sees every change committed before it called.
   */
  refresh(): Promise<void> {
    if (this.#refreshing) {
      this.#again = true;
      return this.#refreshing;
    }
    this.#refreshing = (async () => {
      try {
        do {
          this.#again = false;
          await this.#load();
        } while (this.#again);
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  /**
   * Resolves once a re-read in flight (one a feed change started) has finished: GetJwks waits for
   * it, so a verifier told of a new key by WatchRevocations, which asks at once, gets that key.
   */
  async settled(): Promise<void> {
    await this.#refreshing?.catch(() => undefined);
  }

  async #load(): Promise<void> {
    const now = this.#now();
    this.#lastRefresh = now;
    const window = this.publishWindowMs;
    const rows = await listCurrentSigningKeys(this.#db, now - window);
    const revoked = new Map([...this.#revoked].filter(([, until]) => until > now));
    for (const row of rows) if (row.revoke_time !== null) revoked.set(row.kid, row.revoke_time + window);
    const published = new Map<string, PublishedKey>();
    let activeRow: (typeof rows)[number] | undefined;
    for (const row of rows) {
      if (revoked.has(row.kid)) continue;
      if (row.retire_time === null) activeRow ??= row;
      const until = row.retire_time === null ? Infinity : row.retire_time + window;
      published.set(row.kid, { ...(this.#published.get(row.kid) ?? publicKeyOf(row.public_jwk)), until });
    }
    let active = this.#active?.kid === activeRow?.kid ? this.#active : undefined;
    if (activeRow && !active) {
      const der = this.#sealer.unseal(activeRow.sealed_private_key, activeRow.kid);
      active = { kid: activeRow.kid, privateKey: createPrivateKey({ key: der, format: "der", type: "pkcs8" }), createTime: activeRow.create_time };
      if (this.#active) this.#log.info({ kid: active.kid, previousKid: this.#active.kid }, "now signing derived JWTs with a new signing key");
    }
    this.#revoked = revoked;
    this.#published = published;
    this.#active = active;
  }

  /**
   * Applies change-feed rows: a revoked kid stops verifying at once (before the re-read that
   * follows answers); any signing-key row, or a follower reset, re-reads the keys.
   */
  applyFeed(update: SigningKeyFeedUpdate): void {
    const changes = update.changes.filter((c) => c.signing_key_id !== null);
    if (changes.length === 0 && !update.reset) return;
    for (const change of changes) {
      if (change.action === "signing_key_revoke") this.revokeLocally(change.signing_key_id!, change.time);
    }
    this.refresh().catch((err: Error) => this.#log.warn({ err: { message: err.message } }, "re-reading the JWT signing keys failed; retrying at the next change"));
  }

  /** Stops publishing, verifying and signing with `kid` now. */
  revokeLocally(kid: string, revokeTime: number): void {
    this.#revoked.set(kid, Math.max(revokeTime, this.#now()) + this.publishWindowMs);
    this.#published.delete(kid);
    if (this.#active?.kid === kid) this.#active = undefined;
  }

  /** The verification key for a kid. Unknown kids re-read the keys at most once a second. */
  async lookup(kid: string): Promise<SigningKeyLookup> {
    const known = this.lookupSync(kid);
    if (known !== undefined || this.#now() - this.#lastRefresh < UNKNOWN_KID_REFRESH_MS) return known;
    await this.refresh();
    return this.lookupSync(kid);
  }

  /** The verification key for a kid from what this process knows, without reading the database. */
  lookupSync(kid: string): SigningKeyLookup {
    if (this.#revoked.has(kid)) return "revoked";
    const hit = this.#published.get(kid);
    return hit && hit.until > this.#now() ? hit.key : undefined;
  }

  /** The published keys: the active one and retired ones whose tokens may be unexpired. */
  jwks(): PublicJwk[] {
    const now = this.#now();
    return [...this.#published.values()].filter((p) => p.until > now).map((p) => p.jwk);
  }
}

function publicKeyOf(publicJwk: string): { jwk: PublicJwk; key: KeyObject } {
  const jwk = JSON.parse(publicJwk) as PublicJwk;
  return { jwk, key: createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: "jwk" }) };
}
