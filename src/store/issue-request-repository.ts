import type { Kysely, Transaction } from "kysely";
import type { Database } from "./database.js";
import type { IssueRequestRow, NewIssueRequestRow } from "./tables/issue-requests-table.js";

type Db = Kysely<Database> | Transaction<Database>;

export async function findIssueRequest(db: Db, requestId: string, now: number): Promise<IssueRequestRow | undefined> {
  return db.selectFrom("issue_requests").selectAll().where("request_id", "=", requestId).where("expire_time", ">", now).executeTakeFirst();
}

export async function insertIssueRequests(db: Db, rows: readonly NewIssueRequestRow[]): Promise<void> {
  if (rows.length > 0) await db.insertInto("issue_requests").values([...rows]).execute();
}

/** Drops up to `limit` records whose retry window has passed (their sealed secrets with them). */
export async function deleteExpiredIssueRequests(db: Db, now: number, limit: number): Promise<number> {
  const r = await db
    .deleteFrom("issue_requests")
    .where("request_id", "in", (eb) => eb.selectFrom("issue_requests").select("request_id").where("expire_time", "<=", now).limit(limit))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Drops one request id's record if its retry window has passed. */
export async function deleteExpiredIssueRequest(db: Db, requestId: string, now: number): Promise<void> {
  await db.deleteFrom("issue_requests").where("request_id", "=", requestId).where("expire_time", "<=", now).execute();
}
