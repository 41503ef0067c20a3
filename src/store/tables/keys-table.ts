import type { Insertable, Selectable, Updateable } from "kysely";

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
}

export type KeyRow = Selectable<KeysTable>;
export type NewKeyRow = Insertable<KeysTable>;
export type KeyRowUpdate = Updateable<KeysTable>;
