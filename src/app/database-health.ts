import { sql } from "kysely";
import type { Logger } from "pino";
import type { SigilDb } from "../store/database.js";

export type HealthListener = (serving: boolean) => void;

/**
 * Whether the database answers, for the health endpoints. A failed call (reported through
 * `reportUnavailable`) turns it NOT_SERVING at once; a probe (`select 1`) every `intervalMs`
 * notices both the outage when nothing is calling and the recovery, so health comes back by itself.
 */
export class DatabaseHealth {
  readonly #probe: () => Promise<void>;
  readonly #intervalMs: number;
  readonly #log: Logger;
  readonly #listeners = new Set<HealthListener>();
  #serving = true;
  /** Bumped by each reported failure: a probe that started before it cannot mark the database healthy. */
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #probing: Promise<void> | undefined;

  constructor(probe: () => Promise<void>, options: { intervalMs: number; log: Logger }) {
    this.#probe = probe;
    this.#intervalMs = options.intervalMs;
    this.#log = options.log;
  }

  get serving(): boolean {
    return this.#serving;
  }

  onChange(listener: HealthListener): void {
    this.#listeners.add(listener);
  }

  start(): void {
    this.#timer = setInterval(() => void this.probe(), this.#intervalMs);
    this.#timer.unref();
  }

  /** A call just failed because the database is unreachable. */
  reportUnavailable(reason: string): void {
    this.#failures++;
    this.#set(false, reason);
  }

  /** Probes now; concurrent calls share one probe. */
  probe(): Promise<void> {
    const failures = this.#failures;
    this.#probing ??= this.#probe()
      .then(
        () => {
          if (failures === this.#failures) this.#set(true, undefined);
        },
        (err: Error) => this.#set(false, err.message),
      )
      .finally(() => (this.#probing = undefined));
    return this.#probing;
  }

  #set(serving: boolean, reason: string | undefined): void {
    if (serving === this.#serving) return;
    this.#serving = serving;
    if (serving) this.#log.info("database reachable again: SERVING");
    else this.#log.error({ err: { message: reason } }, "database unreachable: NOT_SERVING (cached keys still verify)");
    for (const listener of this.#listeners) listener(serving);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#probing;
  }
}

/** The cheapest round trip that proves the database answers. */
export async function pingDatabase(db: SigilDb): Promise<void> {
  await sql`select 1`.execute(db);
}
