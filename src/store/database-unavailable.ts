import { Code, ConnectError } from "@connectrpc/connect";

/** Node socket errors that mean "no connection to the database server right now". */
const SOCKET_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "ENOTFOUND", "EAI_AGAIN"]);

/** PostgreSQL SQLSTATEs of a server that is going away, restarting or full. Class 08 is added below. */
const POSTGRES_STATES = new Set([
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, shutting down, recovering)
  "53300", // too_many_connections
]);

/** node-postgres reports a lost connection or a full pool with these messages and no code. */
const PG_MESSAGES = [
  "Connection terminated",
  "timeout exceeded when trying to connect",
  "Client has encountered a connection error and is not queryable",
  "Query read timeout",
];

export interface Unavailability {
  /** Short and secret-free: an error code or a fixed message. */
  readonly reason: string;
  /** The server is out of reach (health goes NOT_SERVING), rather than busy (SQLite's lock). */
  readonly unreachable: boolean;
}

/**
 * Says whether `err` means the database cannot serve this call now: out of reach, or (SQLite)
 * locked by another process past the busy timeout. Undefined for every other error (constraint
 * violations and bugs keep their own handling).
 */
export function classifyUnavailable(err: unknown): Unavailability | undefined {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e === null || typeof e !== "object") return undefined;
  const code = typeof e.code === "string" ? e.code : "";
  const message = typeof e.message === "string" ? e.message : "";
  if (SOCKET_ERRORS.has(code)) return { reason: code, unreachable: true };
  if (POSTGRES_STATES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return { reason: `SQLSTATE ${code}`, unreachable: true };
  if (code.startsWith("SQLITE_BUSY")) return { reason: `${code}: another process holds the write lock`, unreachable: false };
  const known = PG_MESSAGES.find((m) => message.startsWith(m));
  if (known) return { reason: known.toLowerCase(), unreachable: true };
  return undefined;
}

/**
 * The error every call sees while the database is out of reach: UNAVAILABLE, which clients may
 * retry. A ConnectError, so both listeners send it as is; the text names only the kind of failure.
 */
export function databaseUnavailableError(reason: string): ConnectError {
  return new ConnectError(`database unavailable (${reason}); try again`, Code.Unavailable);
}
