// gRPC status codes by number, and the Connect protocol's string codes mapped onto them, so errors
// from both listeners are counted under the same names.
export const GRPC_STATUS_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

export const STATUS_OK = 0;
export const STATUS_UNKNOWN = 2;
export const STATUS_UNAVAILABLE = 14;

export function statusName(code: number): string {
  return GRPC_STATUS_NAMES[code] ?? `CODE_${code}`;
}

/** Connect error codes are the gRPC names in snake_case ("not_found" ↔ NOT_FOUND). */
export function statusFromConnectCode(code: unknown): number {
  if (typeof code !== "string") return STATUS_UNKNOWN;
  const index = GRPC_STATUS_NAMES.indexOf(code.toUpperCase() as (typeof GRPC_STATUS_NAMES)[number]);
  return index > 0 ? index : STATUS_UNKNOWN;
}

/** Connect's fallback when an error body is missing: HTTP status → code (connect protocol spec). */
export function statusFromHttpStatus(httpStatus: number): number {
  switch (httpStatus) {
    case 400: return 13; // INTERNAL
    case 401: return 16; // UNAUTHENTICATED
    case 403: return 7; // PERMISSION_DENIED
    case 404: return 12; // UNIMPLEMENTED
    case 429: case 502: case 503: case 504: return STATUS_UNAVAILABLE;
    default: return STATUS_UNKNOWN;
  }
}

/** Counts per status code (index = code) as counts per status name, leaving out the zeros. */
export function countsByStatusName(countsByCode: readonly number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  countsByCode.forEach((count, code) => {
    if (count > 0) counts[statusName(code)] = count;
  });
  return counts;
}
