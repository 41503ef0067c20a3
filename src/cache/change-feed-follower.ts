import type { Logger } from "pino";
import { feedHorizon, latestChangeSeq, readChangesAfter } from "../store/change-feed-repository.js";
import type { SigilDb } from "../store/database.js";
import type { FeedWakeSource } from "../store/postgres-feed-listener.js";
import type { ChangeRow } from "../store/tables/change-feed-table.js";
import type { KeyDirectory } from "./key-directory.js";

/** What one poll applied, as subscribers of `onChanges` see it. */
export interface FeedUpdate {
  /** Changes applied to the cache, in seq order. */
  readonly changes: readonly ChangeRow[];
  /**
   * True when this follower had fallen behind the feed's retention (changes it never saw were
   * pruned) and dropped its whole cache; `changes` is then empty, caches that subscribe drop
   * all they hold too (tenant-feed-cache.ts), and subscribers that keep their own cursor should
   * check it against the horizon.
   */
  readonly reset: boolean;
  /** The seq this follower has applied through. */
  readonly lastSeq: number;
}

export type FeedListener = (update: FeedUpdate) => void;

const BATCH = 1000;
/**
 * Under a stream of commits every one notifies; reruns of a poll are spaced at least this far apart
 * so a busy feed costs each process at most ~100 polls a second.
 */
const MIN_RERUN_GAP_MS = 10;

/**
 * Follows the change feed so that mutations made by other processes reach this process's cache:
 * it polls every `intervalMs`, and earlier when a wake source (PostgreSQL LISTEN/NOTIFY) says a
 * change committed. A failed poll is retried at the next tick. Others subscribe with `onChanges`
 * (WatchRevocations streams from it instead of polling on its own).
 */
export class ChangeFeedFollower {
  readonly #db: SigilDb;
  readonly #directory: KeyDirectory;
  readonly #intervalMs: number;
  readonly #log: Logger;
  readonly #wakeSource: FeedWakeSource | undefined;
  readonly #listeners = new Set<FeedListener>();
  #lastSeq = 0;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  /** A wake-up arrived during a poll that may already have read past it: poll once more. */
  #again = false;
  #stopped = false;

  constructor(db: SigilDb, directory: KeyDirectory, options: { intervalMs: number; log: Logger; wakeSource?: FeedWakeSource }) {
    this.#db = db;
    this.#directory = directory;
    this.#intervalMs = options.intervalMs;
    this.#log = options.log;
    this.#wakeSource = options.wakeSource;
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Starts from the current end of the feed: the cache is empty, so older changes do not matter. */
  async start(): Promise<void> {
    this.#lastSeq = await latestChangeSeq(this.#db);
    this.#timer = setInterval(() => void this.poll(), this.#intervalMs);
    this.#timer.unref();
    this.#wakeSource?.start(() => void this.poll());
  }

  /** Calls `listener` after every poll that applied changes or reset; returns the unsubscribe function. */
  onChanges(listener: FeedListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Applies every change after the last one seen. Concurrent calls share one poll (plus one rerun). */
  poll(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#polling) {
      this.#again = true;
      return this.#polling;
    }
    this.#polling = (async () => {
      try {
        do {
          this.#again = false;
          const started = Date.now();
          await this.#drain();
          const gap = MIN_RERUN_GAP_MS - (Date.now() - started);
          if (this.#again && gap > 0) await new Promise((resolve) => setTimeout(resolve, gap));
        } while (this.#again && !this.#stopped);
      } catch (err) {
        this.#log.warn({ err: { message: (err as Error).message } }, "change feed poll failed; retrying");
      } finally {
        this.#polling = undefined;
      }
    })();
    return this.#polling;
  }

  async #drain(): Promise<void> {
    for (;;) {
      const from = this.#lastSeq;
      const changes = await readChangesAfter(this.#db, from, BATCH);
      // Read after the changes: a prune that removed rows we were about to read has committed by
      // now, so its horizon is visible.
      if ((await feedHorizon(this.#db)) > from) return this.#reset(from);
      for (const change of changes) if (change.key_id !== null) this.#directory.invalidate(change.key_id);
      if (changes.length > 0) {
        this.#lastSeq = changes[changes.length - 1]!.seq;
        this.#emit({ changes, reset: false, lastSeq: this.#lastSeq });
      }
      if (changes.length < BATCH) return;
    }
  }

  /** Changes after `from` were pruned unseen: forget every cached record and start from the end. */
  async #reset(from: number): Promise<void> {
    // Read the end first: changes after it are applied by later polls; those before it are in the
    // store, which the emptied cache now reads (the directory's epoch drops reads already in flight).
    const latest = await latestChangeSeq(this.#db);
    this.#directory.clear();
    this.#lastSeq = latest;
    this.#log.warn({ from, resumeAfter: latest }, "change feed fell behind its retention; dropped the whole key cache");
    this.#emit({ changes: [], reset: true, lastSeq: latest });
  }

  #emit(update: FeedUpdate): void {
    for (const listener of this.#listeners) {
      try {
        listener(update);
      } catch (err) {
        this.#log.error({ err: { message: (err as Error).message } }, "change feed listener failed");
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#wakeSource?.stop();
    await this.#polling;
  }
}
