import type { Kysely } from "kysely";
import type { ChangeFeedTable } from "./tables/change-feed-table.js";
import type { IssueRequestsTable } from "./tables/issue-requests-table.js";
import type { KeysTable } from "./tables/keys-table.js";
import type { SigningKeysTable } from "./tables/signing-keys-table.js";

/** The whole schema, as Kysely sees it. */
export interface Database {
  keys: KeysTable;
  change_feed: ChangeFeedTable;
  signing_keys: SigningKeysTable;
  issue_requests: IssueRequestsTable;
}

export type SigilDb = Kysely<Database>;
export type DialectName = "sqlite" | "postgres";
