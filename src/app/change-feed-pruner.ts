import type { Logger } from "pino";
import { pruneChangesBefore } from "../store/change-feed-repository.js";
import type { SigilDb } from "../store/database.js";

const BATCH = 5000;
const MAX_INTERVAL_MS = 10 * 60_000;
const MIN_INTERVAL_MS = 1000;

/**
 * Deletes change-feed rows older than the retention, on a timer, in bounded batches so no single
 * transaction holds the feed for long. Every process runs one: pruning is idempotent, and a
 * process that lags simply finds nothing left to do.
 */
export class ChangeFeedPruner {
  readonly #db: SigilDb;
  readonly #retentionMs: number;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;

  constructor(db: SigilDb, options: { retentionMs: number; now: () => number; log: Logger }) {
    this.#db = db;
    this.#retentionMs = options.retentionMs;
    this.#now = options.now;
    this.#log = options.log;
    // Often enough that the feed never holds much more than the retention.
    this.#intervalMs = Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, Math.floor(options.retentionMs / 4)));
  }

  start(): void {
    this.#timer = setInterval(() => void this.prune(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Prunes now; returns how many rows were deleted (0 when the database is unreachable). */
  prune(): Promise<number> {
    this.#running ??= this.#pruneAll()
      .catch((err: Error) => {
        this.#log.warn({ err: { message: err.message } }, "change feed pruning failed; retrying later");
        return 0;
      })
      .finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #pruneAll(): Promise<number> {
    const cutoff = this.#now() - this.#retentionMs;
    let total = 0;
    for (;;) {
      const deleted = await pruneChangesBefore(this.#db, cutoff, BATCH);
      total += deleted;
      if (deleted < BATCH) break;
    }
    if (total > 0) this.#log.info({ deleted: total, retentionMs: this.#retentionMs }, "pruned the change feed");
    return total;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
  }
}
