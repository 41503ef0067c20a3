import pg from "pg";
import type { Logger } from "pino";
import { CHANGE_FEED_CHANNEL } from "./change-feed-repository.js";

/** Something that can wake a change-feed follower before its next poll. */
export interface FeedWakeSource {
  start(wake: () => void): void;
  stop(): Promise<void>;
}

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5000;

/**
 * Holds one dedicated PostgreSQL connection that LISTENs on the change-feed channel and wakes the
 * follower on every notification (sent at commit by the append trigger). Polling stays the safety
 * net: when this connection drops it reconnects with backoff and wakes the follower once, since
 * notifications sent while it was away are lost.
 */
export class PostgresFeedListener implements FeedWakeSource {
  readonly #url: string;
  readonly #log: Logger;
  #client: pg.Client | undefined;
  #wake: (() => void) | undefined;
  #stopped = false;
  #retryMs = RECONNECT_MIN_MS;
  #retryTimer: NodeJS.Timeout | undefined;
  #connecting: Promise<void> | undefined;

  constructor(url: string, log: Logger) {
    this.#url = url;
    this.#log = log;
  }

  start(wake: () => void): void {
    this.#wake = wake;
    this.#connecting = this.#connect();
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#url, keepAlive: true, connectionTimeoutMillis: 5000 });
    // Never left without a listener: a dropped connection must not crash the process.
    client.on("error", () => {});
    client.on("notification", () => this.#wake?.());
    client.once("end", () => {
      if (this.#client !== client) return;
      this.#client = undefined;
      this.#scheduleReconnect("connection lost");
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGE_FEED_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => {});
      this.#scheduleReconnect((err as Error).message);
      return;
    }
    if (this.#stopped) {
      await client.end().catch(() => {});
      return;
    }
    if (this.#retryMs > RECONNECT_MIN_MS) this.#log.info("change feed notifications resumed");
    this.#client = client;
    this.#retryMs = RECONNECT_MIN_MS;
    // Anything committed while we were not listening is picked up now rather than at the next poll.
    this.#wake?.();
  }

  #scheduleReconnect(why: string): void {
    if (this.#stopped) return;
    if (this.#retryMs === RECONNECT_MIN_MS) this.#log.warn({ err: { message: why } }, "change feed notifications unavailable; polling only until reconnected");
    this.#retryTimer = setTimeout(() => (this.#connecting = this.#connect()), this.#retryMs);
    this.#retryTimer.unref();
    this.#retryMs = Math.min(this.#retryMs * 2, RECONNECT_MAX_MS);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    await this.#connecting;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }
}
