import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";

/** gRPC status names, indexed by code (Connect's codes are the same numbers). */
const STATUS_NAMES = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
];

export function statusName(code: number): string {
  return STATUS_NAMES[code] ?? String(code);
}

/**
 * Turns whatever a handler threw into the ConnectError sent to the caller. Errors we did not
 * create on purpose become a bare INTERNAL: their text (SQL, stack, values) never reaches a client.
 */
export function toPublicError(err: unknown, log: Logger, method: string, requestId: string): ConnectError {
  if (err instanceof ConnectError) return err;
  log.error({ method, requestId, err: { type: (err as Error)?.name, message: (err as Error)?.message } }, "handler failed");
  return new ConnectError("internal error", Code.Internal);
}
