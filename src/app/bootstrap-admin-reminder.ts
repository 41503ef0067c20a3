import path from "node:path";
import type { Logger } from "pino";
import { findUnrevokedKeyOwnedBy, hasOtherActiveKeyWithScope } from "../store/admin-key-repository.js";
import type { SigilDb } from "../store/database.js";
import { ROLES } from "../tenants/roles.js";
import { BOOTSTRAP_OWNER } from "./bootstrap-admin.js";
import { ADMIN_KEY_FILE } from "./data-dir.js";

const DAY_MS = 86_400_000;

export interface BootstrapAdminReminderOptions {
  readonly dataDir: string;
  readonly now: () => number;
  readonly log: Logger;
  /** Age from which the bootstrap key should have been replaced. Default one day. */
  readonly graceMs?: number;
  /** Time between two checks while running. Default one day. */
  readonly intervalMs?: number;
}

/**
 * The first admin key never expires and sits in a file in the data directory; it is meant to be
 * replaced. While it is still the only admin key and older than a day, this logs a warning (with
 * the file and key id, never the key) at start-up and then once a day, until it is revoked or
 * another admin key exists.
 */
export class BootstrapAdminReminder {
  readonly #db: SigilDb;
  readonly #o: BootstrapAdminReminderOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<boolean> | undefined;

  constructor(db: SigilDb, options: BootstrapAdminReminderOptions) {
    this.#db = db;
    this.#o = options;
  }

  /** Checks now, then every interval. */
  async start(): Promise<void> {
    await this.check();
    this.#timer = setInterval(() => void this.check(), this.#o.intervalMs ?? DAY_MS);
    this.#timer.unref();
  }

  /** Logs the warning if it applies; resolves with whether it did. A database error is logged, not thrown. */
  check(): Promise<boolean> {
    this.#running ??= this.#check()
      .catch((err: Error) => {
        this.#o.log.debug({ err: { message: err.message } }, "bootstrap admin key check failed; retrying later");
        return false;
      })
      .finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #check(): Promise<boolean> {
    const now = this.#o.now();
    const bootstrap = await findUnrevokedKeyOwnedBy(this.#db, BOOTSTRAP_OWNER);
    if (!bootstrap || now - bootstrap.createTime < (this.#o.graceMs ?? DAY_MS)) return false;
    if (await hasOtherActiveKeyWithScope(this.#db, ROLES.admin, bootstrap.keyId, now)) return false;
    this.#o.log.warn(
      { keyId: bootstrap.keyId, file: path.join(this.#o.dataDir, ADMIN_KEY_FILE), ageDays: Math.floor((now - bootstrap.createTime) / DAY_MS) },
      "the bootstrap admin key is still the only admin key: issue a new admin key, store it, revoke the bootstrap key and delete its file (README: Replacing the bootstrap admin key)",
    );
    return true;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }
}
