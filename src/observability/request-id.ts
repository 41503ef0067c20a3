import { randomUUID } from "node:crypto";

/** The header a caller's request id comes in, and the one it is echoed in. */
export const REQUEST_ID_HEADER = "x-request-id";

/**
 * What a caller's request id may be: 1 to 128 letters, digits and `.:=+/-`, starting with a
 * letter or digit. Anything else is replaced by a new id (never logged or echoed): the bound keeps
 * log lines small, and the charset keeps out Sigil's credentials (API keys hold `_`; derived JWTs
 * and macaroons are longer than 128 characters), so a key pasted into the header is not written.
 */
const ACCEPTED = /^[A-Za-z0-9][A-Za-z0-9.:=+/-]{0,127}$/;

/** The call's request id: the caller's when acceptable, else a new UUID. */
export function requestIdOf(header: string | undefined): string {
  return header !== undefined && ACCEPTED.test(header) ? header : randomUUID();
}
