/**
 * Largest request message each method accepts, so that a call can only make the server buffer what
 * its method can legitimately need. The figures come from the input bounds (request-validation.ts):
 * - VerifyKey / DeriveToken: a credential of 8 KiB + 64 scopes of 128 + audience + client IP ≈ 17 KiB;
 * - IssueKey / UpdateKey / ImportKey: 32 metadata entries of up to 576 characters (4 bytes each in
 *   UTF-8), 64 scopes, 64 networks, names ≈ 85 KiB;
 * - the batch methods: up to 100 / 1,000 of those, bounded by SIGIL_MAX_MESSAGE_BYTES alone;
 * - health: a service name, which a NOT_FOUND answer repeats in its grpc-message header (a 1 MB
 *   name gave the client no status at all): 1 KiB;
 * - everything else (GetKey, ListKeys, RevokeKey, ..., reflection): a few hundred bytes.
 * Methods are named `<service type name>/<method name>`, the gRPC path without its leading slash.
 */
const METHOD_LIMITS: Readonly<Record<string, number>> = {
  "sigil.v1.KeyService/VerifyKey": 32 * 1024,
  "sigil.v1.KeyService/DeriveToken": 32 * 1024,
  "sigil.v1.KeyService/IssueKey": 128 * 1024,
  "sigil.v1.KeyService/UpdateKey": 128 * 1024,
  "sigil.v1.KeyService/ImportKey": 128 * 1024,
  "sigil.v1.KeyService/BatchVerifyKeys": Infinity,
  "sigil.v1.KeyService/BatchImportKeys": Infinity,
  "grpc.health.v1.Health/Check": 1024,
  // Envoy sends every header of the original request (its own limit: 60 KiB by default) and, when
  // configured, some of the body.
  "envoy.service.auth.v3.Authorization/Check": 256 * 1024,
  "grpc.health.v1.Health/Watch": 1024,
};
const DEFAULT_LIMIT = 16 * 1024;

/** Per-method request size limits, each capped by SIGIL_MAX_MESSAGE_BYTES. */
export class MessageLimits {
  /** SIGIL_MAX_MESSAGE_BYTES: no method accepts more. */
  readonly largest: number;

  constructor(maxMessageBytes: number) {
    this.largest = maxMessageBytes;
  }

  /** The limit of `service/method` (e.g. "sigil.v1.KeyService/VerifyKey"). */
  forMethod(method: string): number {
    return Math.min(METHOD_LIMITS[method] ?? DEFAULT_LIMIT, this.largest);
  }
}

/** The error text both listeners give for an oversized request message. */
export function tooLargeMessage(method: string, size: number | undefined, limit: number): string {
  const name = method.slice(method.lastIndexOf("/") + 1) || method;
  return size === undefined ? `request message is larger than ${limit} bytes, the limit of ${name}` : `request message of ${size} bytes is larger than ${limit}, the limit of ${name}`;
}
