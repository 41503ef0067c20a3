import { invalid, LIMITS } from "./request-validation.js";

/**
 * Opaque page tokens: base64url of JSON [...position, filter]. The filter is part of the token,
 * so a token from one listing cannot be replayed on a listing with other filters.
 */
export function encodePageToken(position: ReadonlyArray<string | number>, filter: string): string {
  return Buffer.from(JSON.stringify([...position, filter])).toString("base64url");
}

/**
 * The position fields of a token made by encodePageToken for the same filter; `check` tells whether
 * they have the expected shape. Anything else is INVALID_ARGUMENT naming the RPC.
 */
export function decodePageToken<T>(token: string, filter: string, rpc: string, check: (fields: unknown[]) => T | undefined): T {
  const bad = () => invalid(`page_token: not a token from a previous ${rpc} response with the same filters`);
  if (token.length > LIMITS.pageTokenChars || !/^[A-Za-z0-9_-]+$/.test(token)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (!Array.isArray(parsed) || parsed.length < 2 || parsed[parsed.length - 1] !== filter) throw bad();
  const position = check(parsed.slice(0, -1));
  if (position === undefined) throw bad();
  return position;
}

export const isSafeInteger = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);
