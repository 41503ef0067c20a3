import { Code, ConnectError } from "@connectrpc/connect";
import type { RevokeKeyRequest, RevokeKeyResponse } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { bearerCredential } from "./admin-auth.js";
import type { CallContext } from "./call-context.js";
import type { CredentialVerifier } from "./credential-verifier.js";
import { requireKeyId } from "./request-validation.js";

/** What the guard hands an admitted call to (KeyService). */
export interface KeyRevoker {
  revokeKey(req: RevokeKeyRequest, ctx: CallContext): Promise<RevokeKeyResponse>;
}

/**
 * RevokeKey on a verify-mode instance: only a key revoking itself (a holder that found its key
 * leaked). Any other caller, an admin key included, is PERMISSION_DENIED: administration belongs
 * to the admin instance. This only screens the caller; KeyService.revokeKey, which it hands the
 * call to, still checks the key's secret and records the revocation as it always does.
 */
export class SelfRevocationGuard {
  readonly #inner: KeyRevoker;
  readonly #verifier: CredentialVerifier;
  readonly #now: () => number;

  constructor(inner: KeyRevoker, verifier: CredentialVerifier, now: () => number) {
    this.#inner = inner;
    this.#verifier = verifier;
    this.#now = now;
  }

  async revokeKey(req: RevokeKeyRequest, ctx: CallContext): Promise<RevokeKeyResponse> {
    const keyId = requireKeyId(req.keyId);
    const credential = bearerCredential(ctx.authorization);
    if (!credential) {
      throw new ConnectError("missing credential: on this verify-mode server RevokeKey takes only the key being revoked, as `authorization: Bearer <that key>`", Code.Unauthenticated);
    }
    const presented = await this.#verifier.verifyApiKey(credential, { requiredScopes: [], audience: "", nowMs: this.#now() });
    if (presented.keyId !== keyId) {
      throw new ConnectError(
        "this server runs in verify mode (SIGIL_MODE=verify): RevokeKey accepts only a key revoking itself; revoke other keys on an admin instance",
        Code.PermissionDenied,
      );
    }
    return this.#inner.revokeKey(req, ctx);
  }
}
