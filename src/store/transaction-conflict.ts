import { Code, ConnectError } from "@connectrpc/connect";

/** PostgreSQL SQLSTATEs of a transaction the server aborted because of another one. */
const CONFLICT_STATES = new Set([
  "40P01", // deadlock_detected: e.g. two admins updating each other's keys at the same moment
  "40001", // serialization_failure
]);

/**
 * Says whether `err` is PostgreSQL aborting a transaction for a concurrent one; then the call
 * fails with ABORTED (nothing was written; retry) rather than INTERNAL. Undefined otherwise.
 */
export function transactionConflictError(err: unknown): ConnectError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !CONFLICT_STATES.has(code)) return undefined;
  return new ConnectError(`a concurrent change conflicted with this one (SQLSTATE ${code}); nothing was written, retry`, Code.Aborted);
}
