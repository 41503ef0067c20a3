import type { Insertable, Selectable } from "kysely";

/**
 * Idempotency records of IssueKey: a retry with the same request id gets the same key and secret.
 * The secret is sealed under the server secret and the row is dropped after `expire_time`.
 */
export interface IssueRequestsTable {
  request_id: string;
  /** SHA-256 of the canonical request, so a reused id with another request is refused. */
  fingerprint: string;
  key_id: string;
  sealed_secret: string;
  expire_time: number;
}

export type IssueRequestRow = Selectable<IssueRequestsTable>;
export type NewIssueRequestRow = Insertable<IssueRequestsTable>;
