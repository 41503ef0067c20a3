import { randomBytes } from "node:crypto";
import { MacaroonFormatError } from "../../../clients/typescript/src/macaroon/format.js";

/**
 * The identifier of a macaroon Sigil mints: `v1:<keyId>:<tokenId>`, ASCII.
 * - keyId: the parent API key's public id, 1 to 32 characters of [A-Za-z0-9].
 * - tokenId: 16 random bytes as unpadded base64url (22 characters), the token's unique id.
 * The `v1` tag lets a later identifier layout coexist with this one.
 */
export interface MacaroonIdentifier {
  readonly keyId: string;
  readonly tokenId: string;
}

export const TOKEN_ID_BYTES = 16;

const KEY_ID_PATTERN = /^[A-Za-z0-9]{1,32}$/;
const TOKEN_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;
// Only ASCII can match, so decoding bytes as latin1 and matching is a complete check.
const IDENTIFIER_PATTERN = /^v1:([A-Za-z0-9]{1,32}):([A-Za-z0-9_-]{22})$/;

export function newTokenId(): string {
  return randomBytes(TOKEN_ID_BYTES).toString("base64url");
}

export function isValidKeyId(keyId: string): boolean {
  return KEY_ID_PATTERN.test(keyId);
}

function isValidTokenId(tokenId: string): boolean {
  // 22 characters carry 132 bits; the last 4 must be zero for it to be the canonical encoding.
  return TOKEN_ID_PATTERN.test(tokenId) && Buffer.from(tokenId, "base64url").toString("base64url") === tokenId;
}

export function formatIdentifier(id: MacaroonIdentifier): string {
  if (!isValidKeyId(id.keyId)) throw new MacaroonFormatError("key id must be 1 to 32 characters of [A-Za-z0-9]");
  if (!isValidTokenId(id.tokenId)) throw new MacaroonFormatError("token id must be 16 bytes of base64url");
  return `v1:${id.keyId}:${id.tokenId}`;
}

/** Parses an identifier (bytes from a macaroon, or a string). Throws MacaroonFormatError. */
export function parseIdentifier(identifier: Uint8Array | string): MacaroonIdentifier {
  const text = typeof identifier === "string" ? identifier : Buffer.from(identifier).toString("latin1");
  const match = IDENTIFIER_PATTERN.exec(text);
  if (!match || !isValidTokenId(match[2]!)) {
    throw new MacaroonFormatError("macaroon identifier is not a Sigil identifier (v1:<key id>:<token id>)");
  }
  return { keyId: match[1]!, tokenId: match[2]! };
}
