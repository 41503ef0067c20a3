import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { SETTINGS } from "../config/config.js";
import { classifyUnavailable } from "../store/database-unavailable.js";
import { settingLabel, StartupError } from "./startup-error.js";

export interface DatabaseWaitOptions {
  /** How long to keep trying (SIGIL_DATABASE_START_TIMEOUT); 0 tries once. */
  readonly timeoutMs: number;
  readonly log: Logger;
  /** First pause between attempts; it doubles up to `maxDelayMs`. */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Aborted when the process is told to stop: the wait ends at once (DatabaseWaitAborted). */
  readonly signal?: AbortSignal;
}

/** Start-up was told to stop while it waited for the database. */
export class DatabaseWaitAborted extends Error {
  override name = "DatabaseWaitAborted";
}

/**
 * Start-up's first contact with the database. A database that is out of reach (refused, starting
 * up, timing out) is tried again with back-off until the start timeout, so an instance started
 * before its PostgreSQL waits instead of crash-looping; any other failure (a wrong password, a
 * missing database, an unreadable SQLite file) stops start-up at once. Either way the failure is
 * one line naming SIGIL_DATABASE_URL, without the URL (it may hold a password).
 */
export async function waitForDatabase(ping: () => Promise<void>, options: DatabaseWaitOptions): Promise<void> {
  const started = Date.now();
  let delay = options.initialDelayMs ?? 250;
  const maxDelay = options.maxDelayMs ?? 5000;
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw new DatabaseWaitAborted("stopped while waiting for the database");
    try {
      await ping();
      if (attempt > 1) options.log.info({ attempts: attempt, waitedMs: Date.now() - started }, "database reachable");
      return;
    } catch (err) {
      const reason = unreachableReason(err);
      const url = settingLabel(SETTINGS.databaseUrl);
      if (reason === undefined) throw new StartupError(`${url}: cannot use the database: ${oneLine(err)}`);
      const left = options.timeoutMs - (Date.now() - started);
      if (left <= 0) {
        const waited = Math.round((Date.now() - started) / 1000);
        throw new StartupError(
          `${url}: database unreachable (${reason}) after ${attempt} attempt(s) in ${waited}s; ${settingLabel(SETTINGS.databaseStartTimeoutMs)} sets how long start-up waits`,
        );
      }
      const pause = Math.min(delay, left);
      options.log.warn({ reason, attempt, retryInMs: pause }, "database not reachable yet; waiting for it");
      await pauseUnlessAborted(pause, options.signal);
      delay = Math.min(delay * 2, maxDelay);
    }
  }
}

/** The secret-free reason when `err` means "out of reach for now", else undefined. */
function unreachableReason(err: unknown): string | undefined {
  // Queries through the store come out as UNAVAILABLE (unavailable-mapping-dialect.ts).
  if (err instanceof ConnectError && err.code === Code.Unavailable) return err.rawMessage.replace(/^database unavailable \((.*)\); try again$/, "$1");
  const unavailable = classifyUnavailable(err);
  return unavailable?.unreachable ? unavailable.reason : undefined;
}

function oneLine(err: unknown): string {
  const message = err instanceof ConnectError ? err.rawMessage : err instanceof Error ? err.message : String(err);
  // Driver messages name users and databases, not passwords; a URL never appears in them, but is cut if it does.
  return message.replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, "<url>").replace(/\s*[\r\n]+\s*/g, " ").trim() || "unknown error";
}

function pauseUnlessAborted(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new DatabaseWaitAborted("stopped while waiting for the database"));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
