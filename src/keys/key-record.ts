import type { KeyRow, NewKeyRow } from "../store/tables/keys-table.js";
import { ClientNetworks } from "../usage/client-networks.js";
import type { CreditsConfig } from "../usage/credits.js";
import type { RateLimitConfig } from "../usage/rate-limiter.js";

/** An API key as the service works with it (parsed from its row, cached in memory). */
export interface KeyRecord {
  readonly keyId: string;
  readonly prefix: string;
  readonly name: string;
  readonly owner: string;
  readonly scopes: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly secretHash: Buffer;
  readonly hashVersion: number;
  readonly createTime: number;
  readonly updateTime: number;
  readonly expireTime: number | null;
  readonly revokeTime: number | null;
  readonly revokeReason: string | null;
  /** False while disabled by UpdateKey (verifies as DISABLED; can be enabled again). */
  readonly enabled: boolean;
  /** Imported by ImportKey rather than issued. */
  readonly imported: boolean;
  /** The current secret is an imported key string: `secretHash` is then its lookup hash. */
  readonly secretImported: boolean;
  readonly secretCreateTime: number;
  readonly secretHint: string | null;
  /** The old secret while a rotation's grace period runs (check its expireTime: it may have passed). */
  readonly previousSecret: PreviousSecret | null;
  readonly rateLimit: RateLimitConfig | null;
  readonly credits: CreditsConfig | null;
  readonly allowedNetworks: ClientNetworks | null;
  /** As of loading; the newest value may still be in a LastUseRecorder. */
  readonly lastUseTime: number | null;
  /** The tenant the key belongs to (`default` unless made in another). */
  readonly tenantId: string;
}

/** The secret a rotation replaced, valid until `expireTime`. */
export interface PreviousSecret {
  readonly hash: Buffer;
  readonly hashVersion: number;
  /** An imported key string (hash is its lookup hash) rather than a Sigil secret. */
  readonly imported: boolean;
  readonly createTime: number;
  readonly expireTime: number;
  readonly hint: string | null;
}

const nullableNumber = (v: number | null): number | null => (v === null ? null : Number(v));

export function recordFromRow(row: KeyRow): KeyRecord {
  return {
    keyId: row.key_id,
    prefix: row.prefix,
    name: row.name,
    owner: row.owner,
    scopes: JSON.parse(row.scopes) as string[],
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    secretHash: Buffer.from(row.secret_hash, "base64"),
    hashVersion: row.hash_version,
    createTime: Number(row.create_time),
    updateTime: Number(row.update_time),
    expireTime: row.expire_time === null ? null : Number(row.expire_time),
    revokeTime: row.revoke_time === null ? null : Number(row.revoke_time),
    revokeReason: row.revoke_reason,
    enabled: Number(row.enabled) !== 0,
    imported: Number(row.imported) !== 0,
    secretImported: row.lookup_hash !== null,
    secretCreateTime: Number(row.secret_create_time ?? row.create_time),
    secretHint: row.secret_hint,
    previousSecret:
      row.previous_secret_hash === null || row.previous_secret_expire_time === null
        ? null
        : {
            hash: Buffer.from(row.previous_secret_hash, "base64"),
            hashVersion: Number(row.previous_hash_version),
            imported: row.previous_lookup_hash !== null,
            createTime: Number(row.previous_secret_create_time ?? row.create_time),
            expireTime: Number(row.previous_secret_expire_time),
            hint: row.previous_secret_hint,
          },
    ...usageControlsOfRow(row),
    allowedNetworks: networksOfColumn(row.allowed_networks),
    lastUseTime: nullableNumber(row.last_use_time),
    tenantId: row.tenant_id,
  };
}

/** The compiled networks of a key's `allowed_networks` column (JSON of canonical CIDRs; null: any network). */
export function networksOfColumn(json: string | null): ClientNetworks | null {
  return json === null ? null : ClientNetworks.of(JSON.parse(json) as string[]);
}

/** The rate limit and credits stored in a key's row (all columns set, or none). */
export function usageControlsOfRow(row: Pick<NewKeyRow, UsageColumn>): Pick<KeyRecord, "rateLimit" | "credits"> {
  return {
    rateLimit:
      row.rate_limit_requests == null || row.rate_limit_window_ms == null
        ? null
        : { requests: Number(row.rate_limit_requests), windowMs: Number(row.rate_limit_window_ms), burst: Number(row.rate_limit_burst ?? row.rate_limit_requests) },
    credits:
      row.credits_remaining == null
        ? null
        : {
            remaining: Number(row.credits_remaining),
            refillAmount: nullableNumber(row.credits_refill_amount ?? null),
            refillIntervalMs: nullableNumber(row.credits_refill_interval_ms ?? null),
            refillTime: nullableNumber(row.credits_refill_time ?? null),
          },
  };
}

type UsageColumn =
  | "rate_limit_requests"
  | "rate_limit_window_ms"
  | "rate_limit_burst"
  | "credits_remaining"
  | "credits_refill_amount"
  | "credits_refill_interval_ms"
  | "credits_refill_time";

export function rowFromRecord(r: KeyRecord): NewKeyRow {
  return {
    key_id: r.keyId,
    prefix: r.prefix,
    name: r.name,
    owner: r.owner,
    scopes: JSON.stringify(r.scopes),
    metadata: JSON.stringify(r.metadata),
    secret_hash: r.secretHash.toString("base64"),
    hash_version: r.hashVersion,
    create_time: r.createTime,
    update_time: r.updateTime,
    expire_time: r.expireTime,
    revoke_time: r.revokeTime,
    revoke_reason: r.revokeReason,
    enabled: r.enabled ? 1 : 0,
    imported: r.imported ? 1 : 0,
    secret_create_time: r.secretCreateTime,
    secret_hint: r.secretHint,
    lookup_hash: r.secretImported ? r.secretHash.toString("base64") : null,
    previous_secret_hash: r.previousSecret ? r.previousSecret.hash.toString("base64") : null,
    previous_hash_version: r.previousSecret ? r.previousSecret.hashVersion : null,
    previous_lookup_hash: r.previousSecret?.imported ? r.previousSecret.hash.toString("base64") : null,
    previous_secret_create_time: r.previousSecret ? r.previousSecret.createTime : null,
    previous_secret_expire_time: r.previousSecret ? r.previousSecret.expireTime : null,
    previous_secret_hint: r.previousSecret ? r.previousSecret.hint : null,
    rate_limit_requests: r.rateLimit ? r.rateLimit.requests : null,
    rate_limit_window_ms: r.rateLimit ? r.rateLimit.windowMs : null,
    rate_limit_burst: r.rateLimit ? r.rateLimit.burst : null,
    credits_remaining: r.credits ? r.credits.remaining : null,
    credits_refill_amount: r.credits ? r.credits.refillAmount : null,
    credits_refill_interval_ms: r.credits ? r.credits.refillIntervalMs : null,
    credits_refill_time: r.credits ? r.credits.refillTime : null,
    allowed_networks: r.allowedNetworks ? JSON.stringify(r.allowedNetworks.cidrs) : null,
    last_use_time: r.lastUseTime,
    tenant_id: r.tenantId,
  };
}

export type KeyState = "active" | "revoked" | "expired" | "disabled";

/** Revocation is final, so it wins; a disabled key that also expired reports expired. */
export function keyState(r: Pick<KeyRecord, "revokeTime" | "expireTime" | "enabled">, now: number): KeyState {
  if (r.revokeTime !== null) return "revoked";
  if (r.expireTime !== null && r.expireTime <= now) return "expired";
  if (!r.enabled) return "disabled";
  return "active";
}
