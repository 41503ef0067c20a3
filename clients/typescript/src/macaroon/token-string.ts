import { decodeMacaroon, encodeMacaroon, MacaroonFormatError, MAX_MACAROON_BYTES, type Macaroon } from "./format.js";

/**
 * The string Sigil hands out: `sgm_` + unpadded base64url of the v2 binary. The prefix lets
 * VerifyKey tell the credential kind apart and lets secret scanners match it.
 */
export const MACAROON_TOKEN_PREFIX = "sgm_";

/** Same bound as VerifyKeyRequest.credential (8 KiB), so every token Sigil mints also verifies. */
export const MAX_MACAROON_TOKEN_LENGTH = 8 * 1024;

// Padded base64 length of the largest binary macaroon: bounds the work before decoding.
const MAX_BASE64_LENGTH = 4 * Math.ceil(MAX_MACAROON_BYTES / 3);

const BASE64URL_BODY = /^[A-Za-z0-9_-]+$/;
const BASE64_STD_BODY = /^[A-Za-z0-9+/]+$/;

export function formatMacaroonToken(m: Macaroon): string {
  const token = MACAROON_TOKEN_PREFIX + Buffer.from(encodeMacaroon(m)).toString("base64url");
  if (token.length > MAX_MACAROON_TOKEN_LENGTH) {
    throw new MacaroonFormatError(`token would be ${token.length} characters (at most ${MAX_MACAROON_TOKEN_LENGTH})`);
  }
  return token;
}

/** Parses an `sgm_` token. Throws MacaroonFormatError for anything else. */
export function parseMacaroonToken(token: string): Macaroon {
  if (token.length > MAX_MACAROON_TOKEN_LENGTH) {
    throw new MacaroonFormatError(`token is ${token.length} characters (at most ${MAX_MACAROON_TOKEN_LENGTH})`);
  }
  if (!token.startsWith(MACAROON_TOKEN_PREFIX)) {
    throw new MacaroonFormatError(`token does not start with "${MACAROON_TOKEN_PREFIX}"`);
  }
  const body = token.slice(MACAROON_TOKEN_PREFIX.length);
  if (!BASE64URL_BODY.test(body)) {
    throw new MacaroonFormatError("token body is not unpadded base64url");
  }
  return decodeMacaroon(decodeCanonicalBase64url(body));
}

/**
 * Decodes a macaroon given as plain base64url or standard base64, padded or not, without the
 * `sgm_` prefix: what pymacaroons, libmacaroons and go-macaroon print.
 */
export function decodeMacaroonBase64(text: string): Macaroon {
  if (text.length > MAX_BASE64_LENGTH) {
    throw new MacaroonFormatError(`base64 macaroon is ${text.length} characters (at most ${MAX_BASE64_LENGTH})`);
  }
  if (text.startsWith(MACAROON_TOKEN_PREFIX)) {
    throw new MacaroonFormatError(`"${MACAROON_TOKEN_PREFIX}" tokens are parsed with parseMacaroonToken`);
  }
  const body = text.replace(/={1,2}$/, "");
  if (body.length !== text.length && text.length % 4 !== 0) {
    throw new MacaroonFormatError("base64 macaroon has wrong padding");
  }
  let urlBody: string;
  if (BASE64URL_BODY.test(body)) {
    urlBody = body;
  } else if (BASE64_STD_BODY.test(body)) {
    urlBody = body.replace(/\+/g, "-").replace(/\//g, "_");
  } else {
    throw new MacaroonFormatError("macaroon is neither base64url nor standard base64");
  }
  return decodeMacaroon(decodeCanonicalBase64url(urlBody));
}

/**
 * Buffer.from(..., "base64url") ignores bad characters and stray bits, so the caller checks the
 * alphabet and this insists on the one canonical encoding: one token, one string.
 */
function decodeCanonicalBase64url(body: string): Uint8Array {
  if (body.length % 4 === 1) throw new MacaroonFormatError("base64 length is impossible (truncated?)");
  const bytes = Buffer.from(body, "base64url");
  if (bytes.toString("base64url") !== body) {
    throw new MacaroonFormatError("base64 is not canonical (non-zero padding bits)");
  }
  return new Uint8Array(bytes);
}
