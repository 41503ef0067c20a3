import type { Logger } from "pino";
import { pruneChangesBefore } from "../store/change-feed-repository.js";
import type { SigilDb } from "../store/database.js";
import { deleteExpiredIssueRequests } from "../store/issue-request-repository.js";
import { pruneKeyUsageBefore } from "../store/usage-repository.js";

const BATCH = 5000;

/** Runs a bounded delete until it deletes less than a full batch; returns the total. */
async function inBatches(deleteUpTo: (limit: number) => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await deleteUpTo(BATCH);
    total += deleted;
    if (deleted < BATCH) return total;
  }
}
const MAX_INTERVAL_MS = 10 * 60_000;
const MIN_INTERVAL_MS = 1000;

/**
 * Deletes rows past their retention, on a timer, in bounded batches so no single transaction holds
 * a table for long: change-feed rows older than the feed retention, IssueKey idempotency
 * records (which hold a sealed copy of the issued key) once their 24-hour retry window has passed,
 * and usage-analytics minutes older than the usage retention.
 * Every process runs one: pruning is idempotent, and a process that lags finds nothing left to do.
 */
export class RetentionPruner {
  readonly #db: SigilDb;
  readonly #retentionMs: number;
  readonly #usageRetentionMs: number | undefined;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;

  constructor(db: SigilDb, options: { retentionMs: number; usageRetentionMs?: number; now: () => number; log: Logger }) {
    this.#db = db;
    this.#retentionMs = options.retentionMs;
    this.#usageRetentionMs = options.usageRetentionMs;
    this.#now = options.now;
    this.#log = options.log;
    // Often enough that no table holds much more than its retention.
    const shortest = Math.min(options.retentionMs, options.usageRetentionMs ?? Infinity);
    this.#intervalMs = Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, Math.floor(shortest / 4)));
  }

  start(): void {
    this.#timer = setInterval(() => void this.prune(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Prunes now; returns how many rows were deleted (0 when the database is unreachable). */
  prune(): Promise<number> {
    this.#running ??= this.#pruneAll()
      .catch((err: Error) => {
        this.#log.warn({ err: { message: err.message } }, "pruning failed; retrying later");
        return 0;
      })
      .finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #pruneAll(): Promise<number> {
    const now = this.#now();
    const changes = await inBatches((limit) => pruneChangesBefore(this.#db, now - this.#retentionMs, limit));
    if (changes > 0) this.#log.info({ deleted: changes, retentionMs: this.#retentionMs }, "pruned the change feed");
    const requests = await inBatches((limit) => deleteExpiredIssueRequests(this.#db, now, limit));
    if (requests > 0) this.#log.info({ deleted: requests }, "pruned expired IssueKey idempotency records");
    let usage = 0;
    if (this.#usageRetentionMs !== undefined) {
      const cutoff = now - this.#usageRetentionMs;
      usage = await inBatches((limit) => pruneKeyUsageBefore(this.#db, cutoff, limit));
      if (usage > 0) this.#log.info({ deleted: usage, retentionMs: this.#usageRetentionMs }, "pruned usage analytics");
    }
    return changes + requests + usage;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
  }
}
