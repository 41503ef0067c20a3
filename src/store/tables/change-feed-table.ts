import type { ColumnType, Generated, Insertable, Selectable } from "kysely";

export const CHANGE_ACTIONS = ["issue", "revoke", "update", "rotate", "import"] as const;
export type ChangeAction = (typeof CHANGE_ACTIONS)[number];

/** What happened to a JWT signing key: a new one signs, one stopped signing, one was revoked at once. */
export const SIGNING_KEY_CHANGE_ACTIONS = ["signing_key_add", "signing_key_retire", "signing_key_revoke"] as const;
export type SigningKeyChangeAction = (typeof SIGNING_KEY_CHANGE_ACTIONS)[number];

/** What happened to a tenant that other processes must hear of: its policy changed (migration 0010). */
export const TENANT_CHANGE_ACTIONS = ["tenant_update"] as const;
export type TenantChangeAction = (typeof TENANT_CHANGE_ACTIONS)[number];

/**
 * Append-only feed of mutations, one row per mutation, written in the mutation's transaction.
 * Followers use it to invalidate caches and reload signing keys; it also backs WatchRevocations.
 * A row names exactly one subject (a CHECK constraint holds it): an API key (`key_id`, with a
 * ChangeAction), a JWT signing key (`signing_key_id`, with a SigningKeyChangeAction), or neither:
 * then the row is about its tenant (`tenant_id`, with a TenantChangeAction).
 */
export interface ChangeFeedTable {
  seq: Generated<number>;
  key_id: string | null;
  /** The kid of the signing key the row is about (migration 0005). */
  signing_key_id: string | null;
  action: ChangeAction | SigningKeyChangeAction | TenantChangeAction;
  /** Free text given with the mutation (for revocations, the reason). */
  reason: string | null;
  /** Key id of the credential that made the change, when authenticated. */
  actor_key_id: string | null;
  time: number;
  /** The tenant of the key (migration 0008); `default` for signing-key rows. */
  tenant_id: ColumnType<string, string | undefined, string>;
}

export type ChangeRow = Selectable<ChangeFeedTable>;
export type NewChangeRow = Insertable<ChangeFeedTable>;
