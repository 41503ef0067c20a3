import type { ColumnType, Insertable, Selectable } from "kysely";

/**
 * Verifications per key, minute and outcome: usage analytics (GetKeyUsage). Every process adds
 * its own counts to the row (an upsert that adds), so the table holds the sum over all workers
 * and instances. Rows are dropped once their minute is older than SIGIL_USAGE_RETENTION.
 */
export interface KeyUsageTable {
  /** The key the verification answer named, when that key exists; '' for the unattributed series. */
  key_id: string;
  /** Start of the minute counted (ms since the epoch, a multiple of 60,000). */
  start_time: number;
  /** The outcome: the VerifyReason number (VALID, or a failure reason). Proto enum numbers never change meaning. */
  reason: number;
  /** Verifications with this outcome in this minute. */
  count: number;
  /** The tenant of the key counted (migration 0008); `default` for the unattributed series. */
  tenant_id: ColumnType<string, string | undefined, string>;
}

export type KeyUsageRow = Selectable<KeyUsageTable>;
export type NewKeyUsageRow = Insertable<KeyUsageTable>;
