import type { ColumnType, Generated, Insertable, Selectable } from "kysely";

export const AUDIT_ACTIONS = ["issue", "update", "rotate", "revoke", "import", "rotate_signing_key", "issue_replay", "create_tenant", "update_tenant", "delete_tenant"] as const;
export type AuditActionName = (typeof AUDIT_ACTIONS)[number];

/**
 * The audit trail: one row per key mutation (who, what, when), written in the mutation's own
 * transaction. Kept apart from change_feed because the feed is pruned after its retention period
 * (it only has to outlive cache invalidation), while the trail is kept; and followers polling the
 * feed need none of the details.
 */
export interface AuditEventsTable {
  seq: Generated<number>;
  time: number;
  action: AuditActionName;
  /** The key changed; empty for a signing-key rotation (its details name the signing keys). */
  key_id: string;
  /** Key id of the credential that made the change; null when the server acted on its own. */
  actor_key_id: string | null;
  /** JSON object describing the change. Never holds a secret, a key string or a hash. */
  details: string;
  /** The tenant of the key (or the tenant an event is about); `default` for signing-key events. */
  tenant_id: ColumnType<string, string | undefined, string>;
}

export type AuditEventRow = Selectable<AuditEventsTable>;
export type NewAuditEventRow = Insertable<AuditEventsTable>;
