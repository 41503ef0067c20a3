import type { Logger } from "pino";
import { latestChangeSeq, readChangesAfter } from "../store/change-feed-repository.js";
import type { SigilDb } from "../store/database.js";
import type { KeyDirectory } from "./key-directory.js";

/**
 * Follows the change feed so that mutations made by other processes reach this process's cache
 * within one poll interval. Reads in batches; a failed poll is retried at the next tick.
 */
export class ChangeFeedFollower {
  readonly #db: SigilDb;
  readonly #directory: KeyDirectory;
  readonly #intervalMs: number;
  readonly #log: Logger;
  #lastSeq = 0;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;

  constructor(db: SigilDb, directory: KeyDirectory, options: { intervalMs: number; log: Logger }) {
    this.#db = db;
    this.#directory = directory;
    this.#intervalMs = options.intervalMs;
    this.#log = options.log;
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Starts from the current end of the feed: the cache is empty, so older changes do not matter. */
  async start(): Promise<void> {
    this.#lastSeq = await latestChangeSeq(this.#db);
    this.#timer = setInterval(() => void this.poll(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Applies every change after the last one seen. Concurrent calls share one poll. */
  poll(): Promise<void> {
    this.#polling ??= this.#drain()
      .catch((err: Error) => this.#log.warn({ err: { message: err.message } }, "change feed poll failed; retrying"))
      .finally(() => (this.#polling = undefined));
    return this.#polling;
  }

  async #drain(): Promise<void> {
    for (;;) {
      const changes = await readChangesAfter(this.#db, this.#lastSeq, 1000);
      for (const change of changes) {
        this.#directory.invalidate(change.key_id);
        this.#lastSeq = change.seq;
      }
      if (changes.length < 1000) return;
    }
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#polling;
  }
}
