import { Code, ConnectError } from "@connectrpc/connect";
import { parseApiKey } from "../keys/api-key-format.js";
import type { VerifyingKey } from "../keys/verifying-key.js";
import { VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { ROLES, type Role } from "../tenants/roles.js";
import { accessRefusal, reaches, resolveTenant, type AccessNeed } from "../tenants/tenant-access.js";
import { DEFAULT_TENANT, tenantNotFound } from "../tenants/tenant-id.js";
import type { CallContext } from "./call-context.js";
import type { CredentialVerifier, Verification } from "./credential-verifier.js";
import { MutationActor } from "./mutation-actor.js";
import { LIMITS } from "./request-validation.js";

/** Extracts the credential of `authorization: Bearer <credential>`; undefined when absent. */
export function bearerCredential(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length > LIMITS.credentialChars + 16) return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  return m?.[1];
}

/** An admin the pre-check let through: its record as cached, and the actor its mutations re-check. */
export interface AdminCaller {
  readonly keyId: string;
  readonly record: VerifyingKey;
  readonly actor: MutationActor;
  /** The tenant the call acts in: the one it named, else the caller's own. */
  readonly tenantId: string;
  /** Whether the caller's roles reach objects of this tenant (a key of `default` reaches all). */
  reaches(tenantId: string): boolean;
}

/**
 * Why a verified credential may not make a call that needs `need`, or undefined when it may. The
 * pre-check (from the cache) and the re-check inside a mutation's transaction (from the row) both
 * decide here.
 */
export function adminRefusal(v: Verification, need: AccessNeed = { role: ROLES.admin }): ConnectError | undefined {
  if (!v.valid || !v.record) return new ConnectError(`admin credential is not valid (${VerifyReason[v.reason]})`, Code.Unauthenticated);
  return accessRefusal(v.record, need);
}

/** Whether a tenant exists: not deleted, or (`deletedToo`) ever. */
export type TenantExists = (tenantId: string, deletedToo: boolean) => Promise<boolean>;

/**
 * Admin RPCs: the caller must present a Sigil API key holding the role the call needs, over the
 * tenant it acts in (src/tenants/). This check reads the per-process cache, so it is a fast reject
 * only: every mutation authorizes its write again in its own transaction (ActorRecheck).
 */
export class AdminAuthorizer {
  readonly #verifier: CredentialVerifier;
  readonly #now: () => number;
  readonly #keyPrefix: string;
  readonly #tenantExists: TenantExists;

  constructor(verifier: CredentialVerifier, now: () => number, keyPrefix: string, tenantExists: TenantExists) {
    this.#verifier = verifier;
    this.#now = now;
    this.#keyPrefix = keyPrefix;
    this.#tenantExists = tenantExists;
  }

  /** `sigil:admin` in the caller's own tenant (signing keys: only keys of `default` hold it). */
  requireAdmin(ctx: CallContext): Promise<AdminCaller> {
    return this.requireRole(ctx, ROLES.admin);
  }

  /**
   * The caller holds `role` over `tenantId` (validated; undefined: its own tenant) and may grant
   * `grants` there. A tenant it does not reach, or one that does not exist, is NOT_FOUND; with
   * `deletedToo` (reads of the audit trail) a deleted tenant still exists.
   */
  async requireRole(ctx: CallContext, role: Role | "any", options: { tenantId?: string; grants?: readonly string[]; deletedToo?: boolean } = {}): Promise<AdminCaller> {
    const credential = bearerCredential(ctx.authorization);
    if (!credential) throw new ConnectError("missing credential: send `authorization: Bearer <admin key>`", Code.Unauthenticated);
    // Imported key strings come from other systems and may be short: they are never admin credentials.
    if (!parseApiKey(credential, this.#keyPrefix)) throw new ConnectError(`admin credential is not valid (${VerifyReason[VerifyReason.MALFORMED]})`, Code.Unauthenticated);
    const v = await this.#verifier.verifyApiKey(credential, { requiredScopes: [], audience: "", nowMs: this.#now() });
    // The role first: a key without it learns nothing about the tenant it names.
    const roleRefusal = adminRefusal(v, { role });
    if (roleRefusal) throw roleRefusal;
    const record = v.record!;
    const tenantId = resolveTenant(record, options.tenantId);
    const need: AccessNeed = { role, tenantId, ...(options.grants ? { grants: options.grants } : {}) };
    const refusal = adminRefusal(v, need);
    if (refusal) throw refusal;
    if (tenantId !== record.tenantId && tenantId !== DEFAULT_TENANT && !(await this.#tenantExists(tenantId, options.deletedToo === true))) throw tenantNotFound(tenantId);
    return {
      keyId: record.keyId,
      record,
      actor: new MutationActor(record.keyId, credential, need),
      tenantId,
      reaches: (t) => reaches(record, t),
    };
  }
}
