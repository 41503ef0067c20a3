import { invalid, LIMITS } from "./request-validation.js";

/** Position in a ListKeys listing, bound to the filter it was made for. */
export interface ListPosition {
  readonly createTime: number;
  readonly keyId: string;
  /** The filter (owner and status) of the listing, so a token cannot be replayed on another. */
  readonly filter: string;
}

export function encodePageToken(p: ListPosition): string {
  return Buffer.from(JSON.stringify([p.createTime, p.keyId, p.filter])).toString("base64url");
}

export function decodePageToken(token: string, filter: string): ListPosition {
  const bad = () => invalid("page_token: not a token from a previous ListKeys response with the same filter");
  if (token.length > LIMITS.pageTokenChars || !/^[A-Za-z0-9_-]+$/.test(token)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) throw bad();
  const [createTime, keyId, tokenFilter] = parsed as unknown[];
  if (typeof createTime !== "number" || !Number.isSafeInteger(createTime) || typeof keyId !== "string" || tokenFilter !== filter) throw bad();
  return { createTime, keyId, filter };
}
