import type { Kysely, Transaction } from "kysely";
import type { Database } from "./database.js";
import type { IssueRequestRow, NewIssueRequestRow } from "./tables/issue-requests-table.js";

type Db = Kysely<Database> | Transaction<Database>;

export async function findIssueRequest(db: Db, requestId: string, now: number): Promise<IssueRequestRow | undefined> {
  return db.selectFrom("issue_requests").selectAll().where("request_id", "=", requestId).where("expire_time", ">", now).executeTakeFirst();
}

export async function insertIssueRequest(db: Db, row: NewIssueRequestRow): Promise<void> {
  await db.insertInto("issue_requests").values(row).execute();
}

export async function insertIssueRequests(db: Db, rows: readonly NewIssueRequestRow[]): Promise<void> {
  if (rows.length > 0) await db.insertInto("issue_requests").values([...rows]).execute();
}

/** Drops records whose retry window has passed (their sealed secrets with them). */
export async function deleteExpiredIssueRequests(db: Db, now: number): Promise<number> {
  const r = await db.deleteFrom("issue_requests").where("expire_time", "<=", now).executeTakeFirst();
  return Number(r.numDeletedRows);
}
