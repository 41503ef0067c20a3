import type { Kysely, Transaction } from "kysely";
import type { Database } from "./database.js";
import type { IssueRequestRow, NewIssueRequestRow } from "./tables/issue-requests-table.js";

type Db = Kysely<Database> | Transaction<Database>;

/** The live record of `actor`'s request id, if any (request ids are scoped to the calling key). */
export async function findIssueRequest(db: Db, actorKeyId: string, requestId: string, now: number): Promise<IssueRequestRow | undefined> {
  return db
    .selectFrom("issue_requests")
    .selectAll()
    .where("actor_key_id", "=", actorKeyId)
    .where("request_id", "=", requestId)
    .where("expire_time", ">", now)
    .executeTakeFirst();
}

export async function insertIssueRequests(db: Db, rows: readonly NewIssueRequestRow[]): Promise<void> {
  if (rows.length > 0) await db.insertInto("issue_requests").values([...rows]).execute();
}

/** Drops up to about `limit` records whose retry window has passed (their sealed secrets with them). */
export async function deleteExpiredIssueRequests(db: Db, now: number, limit: number): Promise<number> {
  // A request id may recur under other actors: the outer condition keeps their live records.
  const r = await db
    .deleteFrom("issue_requests")
    .where("request_id", "in", (eb) => eb.selectFrom("issue_requests").select("request_id").where("expire_time", "<=", now).limit(limit))
    .where("expire_time", "<=", now)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

/**
 * Drops the expired records these new ones replace (an expired request id may be used again,
 * even before the pruner removes it). Call it in the transaction that inserts them.
 */
export async function deleteExpiredIssueRequestsFor(db: Db, rows: readonly NewIssueRequestRow[], now: number): Promise<void> {
  if (rows.length === 0) return;
  await db
    .deleteFrom("issue_requests")
    .where("expire_time", "<=", now)
    .where((eb) => eb.or(rows.map((r) => eb.and([eb("actor_key_id", "=", r.actor_key_id), eb("request_id", "=", r.request_id)]))))
    .execute();
}
