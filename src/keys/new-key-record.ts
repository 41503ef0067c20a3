import type { ClientNetworks } from "../usage/client-networks.js";
import type { CreditsConfig } from "../usage/credits.js";
import type { RateLimitConfig } from "../usage/rate-limiter.js";
import { formatApiKey, newKeyId } from "./api-key-format.js";
import type { KeyHasher } from "./key-hasher.js";
import type { KeyRecord } from "./key-record.js";
import { DEFAULT_TENANT } from "../tenants/tenant-id.js";

/** Parameters of a new key, validated. */
export interface NewKeySpec {
  readonly name: string;
  readonly owner: string;
  readonly scopes: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly expireTime: number | null;
  readonly rateLimit?: RateLimitConfig | null;
  readonly credits?: CreditsConfig | null;
  readonly allowedNetworks?: ClientNetworks | null;
  /** The tenant of the key; `default` when unset. */
  readonly tenantId?: string;
}

/**
 * A fresh key: random id and secret, the key string (returned once) and the record that is
 * stored, which holds only the keyed hash of the secret.
 */
export function newKeyRecord(spec: NewKeySpec, opts: { prefix: string; hasher: KeyHasher; now: number }): { record: KeyRecord; key: string } {
  const { prefix, hasher, now } = opts;
  const keyId = newKeyId();
  const { key, secret } = formatApiKey(prefix, keyId);
  const record: KeyRecord = {
    keyId,
    prefix,
    name: spec.name,
    owner: spec.owner,
    scopes: spec.scopes,
    metadata: spec.metadata,
    secretHash: hasher.hash(keyId, secret),
    hashVersion: hasher.currentVersion,
    createTime: now,
    updateTime: now,
    expireTime: spec.expireTime,
    revokeTime: null,
    revokeReason: null,
    enabled: true,
    imported: false,
    secretImported: false,
    secretCreateTime: now,
    // The last characters are checksum, not secret: they tell secrets apart without revealing one.
    secretHint: key.slice(-4),
    previousSecret: null,
    rateLimit: spec.rateLimit ?? null,
    credits: spec.credits ?? null,
    allowedNetworks: spec.allowedNetworks ?? null,
    lastUseTime: null,
    tenantId: spec.tenantId ?? DEFAULT_TENANT,
  };
  return { record, key };
}
