import type { Kysely } from "kysely";
import type { AuditEventsTable } from "./tables/audit-events-table.js";
import type { ChangeFeedHorizonTable } from "./tables/change-feed-horizon-table.js";
import type { ChangeFeedTable } from "./tables/change-feed-table.js";
import type { IssueRequestsTable } from "./tables/issue-requests-table.js";
import type { KeysTable } from "./tables/keys-table.js";
import type { KeyUsageTable } from "./tables/key-usage-table.js";
import type { SigningKeysTable } from "./tables/signing-keys-table.js";
import type { TenantsTable } from "./tables/tenants-table.js";

/** The whole schema, as Kysely sees it. */
export interface Database {
  keys: KeysTable;
  change_feed: ChangeFeedTable;
  change_feed_horizon: ChangeFeedHorizonTable;
  signing_keys: SigningKeysTable;
  issue_requests: IssueRequestsTable;
  audit_events: AuditEventsTable;
  key_usage: KeyUsageTable;
  tenants: TenantsTable;
}

export type SigilDb = Kysely<Database>;
export type DialectName = "sqlite" | "postgres";
