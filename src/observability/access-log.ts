import type { Logger } from "pino";

/** SIGIL_ACCESS_LOG: which calls get a `call` log line, and at which level. */
export const ACCESS_LOG_MODES = ["default", "all", "errors", "none"] as const;
export type AccessLogMode = (typeof ACCESS_LOG_MODES)[number];

/** The verification hot path (and the gateways' checks, one per proxied request): one line per call there is most of a busy server's log. */
const HOT_METHODS = new Set(["sigil.v1.KeyService/VerifyKey", "sigil.v1.KeyService/BatchVerifyKeys", "envoy.service.auth.v3.Authorization/Check", "/v1/authorize"]);
/** The RPCs that write (keys, signing keys). */
const MUTATIONS = new Set([
  "sigil.v1.KeyService/IssueKey",
  "sigil.v1.KeyService/UpdateKey",
  "sigil.v1.KeyService/RotateKey",
  "sigil.v1.KeyService/RevokeKey",
  "sigil.v1.KeyService/ImportKey",
  "sigil.v1.KeyService/BatchImportKeys",
  "sigil.v1.KeyService/RotateSigningKey",
]);

type Level = "info" | "debug";

/**
 * One method's access-log levels, decided once at registration:
 * - `default`: failed calls and every call of a method other than the hot ones at info; successful
 *   calls of the hot ones (VerifyKey, BatchVerifyKeys and the gateways' checks) at debug;
 * - `all`: every call at info;
 * - `errors`: failed calls and mutations at info, nothing else;
 * - `none`: no call lines (the server's own failures are still logged as errors, `handler failed`).
 * "Failed" is any status but OK; an invalid credential is an answer (OK), not a failure.
 */
export class MethodAccessLog {
  readonly #log: Logger;
  readonly #ok: Level | undefined;
  readonly #failed: Level | undefined;

  constructor(log: Logger, mode: AccessLogMode, method: string) {
    this.#log = log;
    const mutation = MUTATIONS.has(method);
    const ok: Level | undefined = mode === "all" ? "info" : mode === "default" ? (HOT_METHODS.has(method) ? "debug" : "info") : mode === "errors" && mutation ? "info" : undefined;
    const failed: Level | undefined = mode === "none" ? undefined : "info";
    // The logger's level does not change while Sigil runs: a disabled level costs nothing per call.
    this.#ok = ok && log.isLevelEnabled(ok) ? ok : undefined;
    this.#failed = failed && log.isLevelEnabled(failed) ? failed : undefined;
  }

  /** Whether a call ending with `code` is logged at all (so callers skip building the line). */
  wants(code: number): boolean {
    return (code === 0 ? this.#ok : this.#failed) !== undefined;
  }

  write(code: number, fields: Record<string, unknown>): void {
    const level = code === 0 ? this.#ok : this.#failed;
    if (level) this.#log[level](fields, "call");
  }
}
