import { Code, ConnectError } from "@connectrpc/connect";
import { parseApiKey } from "../keys/api-key-format.js";
import type { KeyRecord } from "../keys/key-record.js";
import { VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import type { CallContext } from "./call-context.js";
import type { CredentialVerifier, Verification } from "./credential-verifier.js";
import { MutationActor } from "./mutation-actor.js";
import { LIMITS } from "./request-validation.js";
import { ADMIN_SCOPE } from "./scopes.js";

/** Extracts the credential of `authorization: Bearer <credential>`; undefined when absent. */
export function bearerCredential(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length > LIMITS.credentialChars + 16) return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  return m?.[1];
}

/** An admin the pre-check let through: its record as cached, and the actor its mutations re-check. */
export interface AdminCaller {
  readonly keyId: string;
  readonly record: KeyRecord;
  readonly actor: MutationActor;
}

/**
 * Why a verified credential may not act as an admin, or undefined when it may. The pre-check
 * (from the cache) and the re-check inside a mutation's transaction (from the row) both decide here.
 */
export function adminRefusal(v: Verification): ConnectError | undefined {
  if (!v.valid || !v.record) return new ConnectError(`admin credential is not valid (${VerifyReason[v.reason]})`, Code.Unauthenticated);
  if (!v.record.scopes.includes(ADMIN_SCOPE)) return new ConnectError(`key ${v.record.keyId} lacks the ${ADMIN_SCOPE} scope`, Code.PermissionDenied);
  return undefined;
}

/**
 * Admin RPCs: the caller must present a Sigil API key holding the admin scope. This check reads
 * the per-process cache, so it is a fast reject only: every mutation authorizes its write again in
 * its own transaction (ActorRecheck).
 */
export class AdminAuthorizer {
  readonly #verifier: CredentialVerifier;
  readonly #now: () => number;
  readonly #keyPrefix: string;

  constructor(verifier: CredentialVerifier, now: () => number, keyPrefix: string) {
    this.#verifier = verifier;
    this.#now = now;
    this.#keyPrefix = keyPrefix;
  }

  async requireAdmin(ctx: CallContext): Promise<AdminCaller> {
    const credential = bearerCredential(ctx.authorization);
    if (!credential) throw new ConnectError("missing credential: send `authorization: Bearer <admin key>`", Code.Unauthenticated);
    // Imported key strings come from other systems and may be short: they are never admin credentials.
    if (!parseApiKey(credential, this.#keyPrefix)) throw new ConnectError(`admin credential is not valid (${VerifyReason[VerifyReason.MALFORMED]})`, Code.Unauthenticated);
    const v = await this.#verifier.verifyApiKey(credential, { requiredScopes: [], audience: "", nowMs: this.#now() });
    const refusal = adminRefusal(v);
    if (refusal) throw refusal;
    return { keyId: v.record!.keyId, record: v.record!, actor: new MutationActor(v.record!.keyId, credential) };
  }
}
