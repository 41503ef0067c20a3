import type { ColumnType, Insertable, Selectable, Updateable } from "kysely";

/** One API key. Times are milliseconds since the Unix epoch. The secret itself is never stored. */
export interface KeysTable {
  key_id: string;
  prefix: string;
  name: string;
  owner: string;
  /** JSON array of strings. */
  scopes: string;
  /** JSON object of string to string. */
  metadata: string;
  /** base64 of HMAC-SHA256(server secret[hash_version], key id ":" secret). */
  secret_hash: string;
  hash_version: number;
  create_time: number;
  update_time: number;
  expire_time: number | null;
  revoke_time: number | null;
  revoke_reason: string | null;
  /** 1 = enabled, 0 = disabled by UpdateKey (verifies as DISABLED). */
  enabled: ColumnType<number, number | undefined, number>;
  /** 1 when the key was imported (ImportKey) rather than issued. */
  imported: ColumnType<number, number | undefined, number>;
  /** When the current secret was made (issue, import, rotation); null on rows from before rotation existed. */
  secret_create_time: number | null;
  /** Last 4 characters of the current Sigil key string (from its checksum); null for imported secrets. */
  secret_hint: string | null;
  /**
   * For an imported current secret: base64 HMAC-SHA256(server secret[hash_version], "sigil-import:" SHA-256(key string)),
   * also in secret_hash. Unique, so VerifyKey can find an imported key by the string alone.
   */
  lookup_hash: string | null;
  /** The previous secret during a rotation's grace period: its hash, version, lookup hash (if imported), times and hint. */
  previous_secret_hash: string | null;
  previous_hash_version: number | null;
  previous_lookup_hash: string | null;
  previous_secret_create_time: number | null;
  previous_secret_expire_time: number | null;
  previous_secret_hint: string | null;
  /** Rate limit (all three set, or all null). */
  rate_limit_requests: number | null;
  rate_limit_window_ms: number | null;
  rate_limit_burst: number | null;
  /** Usage credits: null remaining means the key is not metered. Decremented in place by verifications. */
  credits_remaining: number | null;
  credits_refill_amount: number | null;
  credits_refill_interval_ms: number | null;
  /** The last refill boundary; the next refill is one interval after it. */
  credits_refill_time: number | null;
  /** JSON array of canonical CIDR strings; null means any network. */
  allowed_networks: string | null;
  /** Last successful verification, written in coalesced batches (usage/last-use-recorder.ts). */
  last_use_time: number | null;
  /** The tenant the key belongs to (migration 0008; `default` for keys made before tenants). */
  tenant_id: ColumnType<string, string | undefined, string>;
}

export type KeyRow = Selectable<KeysTable>;
export type NewKeyRow = Insertable<KeysTable>;
export type KeyRowUpdate = Updateable<KeysTable>;
