/** The longest credential Sigil accepts (VerifyKeyRequest.credential); longer is refused unsent. */
export const MAX_CREDENTIAL_CHARS = 8192;

/**
 * The credential in a header value: `Bearer <credential>` (RFC 6750, the scheme in any case) for
 * the Authorization header, the whole trimmed value for another header (`X-API-Key`). Undefined
 * when the header is absent or empty, or the Authorization header has another scheme.
 */
export function credentialFromHeader(value: string | readonly string[] | undefined, bearer: boolean): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (typeof text !== "string") return undefined;
  if (!bearer) return text.trim() || undefined;
  const match = /^\s*bearer\s+(\S.*?)\s*$/i.exec(text);
  return match ? match[1] : undefined;
}

/** A credential that cannot be one (too long, or with spaces or control characters): refused without a call. */
export function isPlausibleCredential(credential: string): boolean {
  return credential.length <= MAX_CREDENTIAL_CHARS && !/[\s\u0000-\u001f\u007f]/.test(credential);
}
