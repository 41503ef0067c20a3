import type { Insertable, Selectable } from "kysely";

/**
 * Idempotency records of IssueKey: a retry with the same request id by the same admin key gets the
 * same key and secret. Request ids are scoped to the calling key ((actor_key_id, request_id) is the
 * primary key): another admin using the same id issues its own key. The secret is sealed under the
 * server secret and the row is dropped after `expire_time`.
 */
export interface IssueRequestsTable {
  /** The admin key that sent the request ('' for records migrated without a known actor). */
  actor_key_id: string;
  request_id: string;
  /** SHA-256 of the canonical request, so a reused id with another request is refused. */
  fingerprint: string;
  key_id: string;
  sealed_secret: string;
  expire_time: number;
}

export type IssueRequestRow = Selectable<IssueRequestsTable>;
export type NewIssueRequestRow = Insertable<IssueRequestsTable>;
