import type { Logger } from "pino";
import type { LastUse, LastUseWriter } from "../store/last-use-repository.js";

/** Keys written per statement; the event loop gets a turn between statements. */
const CHUNK = 100;

/**
 * Coalesces "key X was used at time T" in memory and writes it in batches: at most one UPDATE per
 * key per flush, every `intervalMs` and on shutdown, instead of a write per verification. What a
 * process has not flushed yet is lost if it is killed (at most one interval of last-use times).
 */
export class LastUseRecorder {
  readonly #writer: LastUseWriter;
  readonly #log: Logger;
  readonly #intervalMs: number;
  /** Bound on distinct keys held between flushes; reaching it flushes early. */
  readonly #maxPending: number;
  /**
   * Key id to last use in whole seconds: small integers that V8 stores unboxed, so noting a use
   * allocates nothing, and a key used many times a second is written to the Map once a second.
   */
  #pending = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(writer: LastUseWriter, options: { intervalMs: number; log: Logger; maxPending?: number }) {
    this.#writer = writer;
    this.#log = options.log;
    this.#intervalMs = options.intervalMs;
    this.#maxPending = options.maxPending ?? 100_000;
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Notes a successful use; on the verification path, so it only touches a Map. */
  record(keyId: string, nowMs: number): void {
    const seconds = Math.floor(nowMs / 1000);
    const previous = this.#pending.get(keyId);
    if (previous === undefined || previous < seconds) {
      this.#pending.set(keyId, seconds);
      if (this.#pending.size >= this.#maxPending) void this.flush();
    }
  }

  /** The last use (ms, whole seconds) this process saw but has not written yet, if any. */
  pending(keyId: string): number | undefined {
    const seconds = this.#pending.get(keyId);
    return seconds === undefined ? undefined : seconds * 1000;
  }

  /** Writes everything noted so far. Concurrent calls share one flush. */
  flush(): Promise<void> {
    this.#flushing ??= this.#write().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async #write(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    try {
      const entries = [...batch];
      let left: LastUse[] = [];
      for (let i = 0; i < entries.length; i += CHUNK) {
        const chunk = entries.slice(i, i + CHUNK).map(([keyId, seconds]) => [keyId, seconds * 1000] as const);
        left = left.concat(await this.#writer.write(chunk));
        // better-sqlite3 runs each statement synchronously: without this a flush of tens of
        // thousands of keys held the event loop (and every call waiting on it) for most of a second.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      // Rows another transaction held: written at the next flush.
      for (const [keyId, time] of left) this.#putBack(keyId, time / 1000);
    } catch (err) {
      // Put the batch back (newer uses noted meanwhile win) and try again at the next tick.
      for (const [keyId, seconds] of batch) this.#putBack(keyId, seconds);
      this.#log.warn({ err: { message: (err as Error).message }, keys: batch.size }, "last-use flush failed; retrying");
    }
  }

  #putBack(keyId: string, seconds: number): void {
    const newer = this.#pending.get(keyId);
    if (newer === undefined || newer < seconds) this.#pending.set(keyId, seconds);
  }

  /** Stops the timer and writes what is left (call before closing the database). */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#flushing;
    await this.flush();
  }
}
