import type { Logger } from "pino";
import type { SigningKeyRotator } from "./signing-key-rotation.js";
import type { SigningKeys } from "./signing-keys.js";

/** However far off the next rotation is, the age of the active key is looked at again this often. */
const MAX_CHECK_INTERVAL_MS = 60_000;
/** After a failed attempt (database unavailable), the next one waits this long. */
const RETRY_MS = 5000;

/**
 * Rotates the JWT signing key once it is older than the rotation period, while the process runs
 * (and at start-up, for a process started after that age). Every process runs one; each wakes when
 * the active key it knows becomes due, and the conditional write in SigningKeyRotator lets exactly
 * one of them rotate. The others hear of the new key through the change feed, and a process whose
 * view is stale finds out when its conditional write changes nothing.
 */
export class SigningKeyRotationSchedule {
  readonly #keys: SigningKeys;
  readonly #rotator: SigningKeyRotator;
  readonly #rotationMs: number;
  readonly #now: () => number;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(keys: SigningKeys, rotator: SigningKeyRotator, options: { rotationMs: number; now: () => number; log: Logger }) {
    this.#keys = keys;
    this.#rotator = rotator;
    this.#rotationMs = options.rotationMs;
    this.#now = options.now;
    this.#log = options.log;
  }

  /** Rotates now if the active key is due (start-up), then keeps watching. */
  async start(): Promise<void> {
    await this.#check();
    this.#schedule(this.#msUntilDue());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #msUntilDue(): number {
    const active = this.#keys.active;
    return active ? active.createTime + this.#rotationMs - this.#now() : RETRY_MS;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#running = this.#check()
        .then(() => this.#schedule(this.#msUntilDue()))
        .catch((err: Error) => {
          this.#log.warn({ err: { message: err.message } }, "scheduled JWT signing-key rotation failed; retrying");
          this.#schedule(RETRY_MS);
        });
    }, Math.min(Math.max(delayMs, 0), MAX_CHECK_INTERVAL_MS));
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    const active = this.#keys.active;
    if (this.#stopped || !active || this.#now() - active.createTime < this.#rotationMs) return;
    const result = await this.#rotator.rotate({ expectedKid: active.kid, retireNow: false, actorKeyId: null });
    if (result) this.#log.info({ kid: result.newKid, retiredKid: active.kid }, "rotated the JWT signing key on schedule");
  }
}
