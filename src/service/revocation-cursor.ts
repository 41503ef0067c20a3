import { invalid } from "./request-validation.js";

/**
 * WatchRevocations cursors: an opaque string naming a change-feed seq ("every change up to this
 * seq has been delivered"). Versioned so the encoding can change without breaking old clients.
 */
const CURSOR_PREFIX = "v1:";
const CURSOR_PATTERN = /^v1:(0|[1-9][0-9]{0,15})$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
export const MAX_CURSOR_CHARS = 64;

export function encodeRevocationCursor(seq: number): string {
  return Buffer.from(`${CURSOR_PREFIX}${seq}`, "utf8").toString("base64url");
}

/** The seq a cursor names; INVALID_ARGUMENT for anything this server did not hand out. */
export function decodeRevocationCursor(cursor: string): number {
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_CHARS || !BASE64URL.test(cursor)) {
    throw invalid(`cursor: must be a cursor from a previous WatchRevocations response (1 to ${MAX_CURSOR_CHARS} characters)`);
  }
  const m = CURSOR_PATTERN.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  const seq = m ? Number(m[1]) : NaN;
  if (!Number.isSafeInteger(seq)) throw invalid("cursor: not a cursor from a WatchRevocations response");
  return seq;
}
