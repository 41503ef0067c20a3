import { Code, ConnectError } from "@connectrpc/connect";
import type { KeyRecord } from "../keys/key-record.js";
import { VerifyReason } from "../../gen/sigil/v1/key_service_pb.js";
import type { CallContext } from "./call-context.js";
import type { CredentialVerifier } from "./credential-verifier.js";
import { LIMITS } from "./request-validation.js";
import { ADMIN_SCOPE } from "./scopes.js";

/** Extracts the credential of `authorization: Bearer <credential>`; undefined when absent. */
export function bearerCredential(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length > LIMITS.credentialChars + 16) return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  return m?.[1];
}

/** Admin RPCs: the caller must present an API key holding the admin scope. */
export class AdminAuthorizer {
  readonly #verifier: CredentialVerifier;
  readonly #now: () => number;

  constructor(verifier: CredentialVerifier, now: () => number) {
    this.#verifier = verifier;
    this.#now = now;
  }

  async requireAdmin(ctx: CallContext): Promise<KeyRecord> {
    const credential = bearerCredential(ctx.authorization);
    if (!credential) throw new ConnectError("missing credential: send `authorization: Bearer <admin key>`", Code.Unauthenticated);
    const v = await this.#verifier.verifyApiKey(credential, { requiredScopes: [], audience: "", nowMs: this.#now() });
    if (!v.valid || !v.record) {
      throw new ConnectError(`admin credential is not valid (${VerifyReason[v.reason]})`, Code.Unauthenticated);
    }
    if (!v.record.scopes.includes(ADMIN_SCOPE)) {
      throw new ConnectError(`key ${v.record.keyId} lacks the ${ADMIN_SCOPE} scope`, Code.PermissionDenied);
    }
    return v.record;
  }
}
