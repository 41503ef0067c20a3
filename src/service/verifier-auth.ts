import { Code, ConnectError } from "@connectrpc/connect";
import { parseApiKey } from "../keys/api-key-format.js";
import type { VerifyingKey } from "../keys/verifying-key.js";
import { VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { bearerCredential } from "./admin-auth.js";
import type { CallContext } from "./call-context.js";
import type { CredentialVerifier } from "./credential-verifier.js";
import { holdsRole, ROLES } from "../tenants/roles.js";

/**
 * Verifier RPCs (WatchRevocations): the caller must present an API key holding the verify scope
 * or the admin scope. Resource services get a verify key, so they need no admin credential. The
 * key's tenant binds what it sees (a verify key of a tenant other than `default` sees only its own).
 */
export class VerifierAuthorizer {
  readonly #verifier: CredentialVerifier;
  readonly #now: () => number;
  readonly #keyPrefix: string;

  constructor(verifier: CredentialVerifier, now: () => number, keyPrefix: string) {
    this.#verifier = verifier;
    this.#now = now;
    this.#keyPrefix = keyPrefix;
  }

  async requireVerifier(ctx: CallContext): Promise<VerifyingKey> {
    const credential = bearerCredential(ctx.authorization);
    if (!credential) {
      throw new ConnectError(`missing credential: send \`authorization: Bearer <key with ${ROLES.verify}>\``, Code.Unauthenticated);
    }
    // Imported key strings may be short and guessable: they never hold Sigil's own scopes.
    if (!parseApiKey(credential, this.#keyPrefix)) throw new ConnectError(`verifier credential is not valid (${VerifyReason[VerifyReason.MALFORMED]})`, Code.Unauthenticated);
    const v = await this.#verifier.verifyApiKey(credential, { requiredScopes: [], audience: "", nowMs: this.#now() });
    if (!v.valid || !v.record) {
      throw new ConnectError(`verifier credential is not valid (${VerifyReason[v.reason]})`, Code.Unauthenticated);
    }
    if (!holdsRole(v.record.scopes, ROLES.verify)) {
      throw new ConnectError(`key ${v.record.keyId} lacks the ${ROLES.verify} (or ${ROLES.admin}) scope`, Code.PermissionDenied);
    }
    return v.record;
  }
}
