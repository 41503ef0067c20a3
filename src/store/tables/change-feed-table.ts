import type { Generated, Insertable, Selectable } from "kysely";

export const CHANGE_ACTIONS = ["issue", "revoke", "update", "rotate", "import"] as const;
export type ChangeAction = (typeof CHANGE_ACTIONS)[number];

/**
 * Append-only feed of key mutations, one row per mutation, written in the mutation's transaction.
 * Followers use it to invalidate caches; it also backs WatchRevocations and the audit trail.
 */
export interface ChangeFeedTable {
  seq: Generated<number>;
  key_id: string;
  action: ChangeAction;
  /** Free text given with the mutation (for revocations, the reason). */
  reason: string | null;
  /** Key id of the credential that made the change, when authenticated. */
  actor_key_id: string | null;
  time: number;
}

export type ChangeRow = Selectable<ChangeFeedTable>;
export type NewChangeRow = Insertable<ChangeFeedTable>;
