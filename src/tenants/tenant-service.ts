import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { KeyDirectory } from "../cache/key-directory.js";
import { appendAuditEvent } from "../store/audit-repository.js";
import { appendChange } from "../store/change-feed-repository.js";
import type { DialectName, SigilDb } from "../store/database.js";
import { markKeyRevoked } from "../store/key-repository.js";
import type { TenantRow } from "../store/tables/tenants-table.js";
import {
  findLiveTenant,
  findTenantRow,
  hasActiveKeys,
  insertTenant,
  listLiveTenants,
  markTenantDeleted,
  unrevokedKeyIds,
  updateLiveTenant,
} from "../store/tenant-repository.js";
import {
  CreateTenantResponseSchema,
  DeleteTenantResponseSchema,
  GetTenantResponseSchema,
  ListTenantsResponseSchema,
  TenantSchema,
  UpdateTenantResponseSchema,
  type CreateTenantRequest,
  type CreateTenantResponse,
  type DeleteTenantRequest,
  type DeleteTenantResponse,
  type GetTenantRequest,
  type GetTenantResponse,
  type ListTenantsRequest,
  type ListTenantsResponse,
  type Tenant,
  type UpdateTenantRequest,
  type UpdateTenantResponse,
} from "../../clients/typescript/src/gen/sigil/v1/tenant_pb.js";
import type { ActorRecheck } from "../service/actor-recheck.js";
import type { AdminAuthorizer } from "../service/admin-auth.js";
import type { CallContext } from "../service/call-context.js";
import { decodePageToken, encodePageToken } from "../service/page-token.js";
import { invalid, LIMITS, requireBoundedText } from "../service/request-validation.js";
import { ROLES } from "./roles.js";
import { DEFAULT_TENANT, requireTenantId, tenantNotFound } from "./tenant-id.js";
import { parseStoredPolicy, policyFromProto, policyToProto } from "./tenant-policy.js";
import { requireJwtAudience, requireJwtIssuer } from "./tenant-jwt.js";
import { isUniqueViolation } from "../store/unique-violation.js";

export interface TenantServiceDeps {
  readonly db: SigilDb;
  readonly dialect: DialectName;
  readonly admin: AdminAuthorizer;
  /** Authorizes each mutation again inside its transaction. */
  readonly recheck: ActorRecheck;
  /** Keys revoked by a forced deletion stop verifying on this process before the call returns. */
  readonly directory: KeyDirectory;
  /** A policy change drops this process's cached boundary before the call returns; others follow the feed. */
  readonly boundaries?: { invalidate(tenantId: string): void };
  readonly now: () => number;
  /** The server's issuer (defaults of the tenants' issuers) and longest derived-token lifetime (bound of the policy). */
  readonly settings: { readonly issuer: string; readonly tokenMaxTtlMs: number };
  /** This process's cache of the tenants' issuers: an UpdateTenant here applies at once; others follow the feed. */
  readonly issuers: { invalidate(tenantId: string): void };
  /** Most keys one forced DeleteTenant revokes (default DEFAULT_MAX_FORCED_REVOCATIONS; tests lower it). */
  readonly maxForcedRevocations?: number;
}

/**
 * Most keys a forced DeleteTenant revokes in its one transaction: each costs three writes, and the
 * transaction holds SQLite's write lock (or the rows' locks on PostgreSQL) until it commits, so an
 * unbounded one would stall every other write of the deployment.
 */
export const DEFAULT_MAX_FORCED_REVOCATIONS = 10_000;

/** What UpdateTenant's mask may name. */
const UPDATABLE = ["display_name", "policy", "jwt_issuer", "jwt_audience"];

/** Longest display name of a tenant. */
const DISPLAY_NAME_CHARS = 128;

/** Why a forced DeleteTenant revoked a key (its revocation reason and audit event say so). */
const DELETED_REASON = "tenant deleted";

/** CreateTenant, GetTenant, ListTenants, UpdateTenant, DeleteTenant. */
export class TenantService {
  readonly #d: TenantServiceDeps;

  constructor(deps: TenantServiceDeps) {
    this.#d = deps;
  }

  async createTenant(req: CreateTenantRequest, ctx: CallContext): Promise<CreateTenantResponse> {
    const { actor } = await this.#d.admin.requireRole(ctx, ROLES.tenantsAdmin);
    const tenantId = requireTenantId(req.tenantId);
    const displayName = requireBoundedText(req.displayName, "display_name", DISPLAY_NAME_CHARS);
    const policy = policyFromProto(req.policy, "policy", this.#d.settings);
    const jwt = { jwt_issuer: requireJwtIssuer(req.jwtIssuer, "jwt_issuer", this.#d.settings.issuer), jwt_audience: requireJwtAudience(req.jwtAudience, "jwt_audience") };
    const now = this.#d.now();
    const row: TenantRow = { tenant_id: tenantId, display_name: displayName, create_time: now, update_time: now, delete_time: null, policy: JSON.stringify(policy), ...jwt };
    await this.#writeIssuer(jwt.jwt_issuer, "jwt_issuer", () => this.#d.db.transaction().execute(async (tx) => {
      await this.#d.recheck.requireAdmin(tx, actor);
      const existing = await findTenantRow(tx, tenantId);
      if (existing) {
        const why = existing.delete_time === null ? "exists" : "was used by a deleted tenant (ids are never reused, so its keys stay its own)";
        throw new ConnectError(`tenant ${tenantId} already ${why}`, Code.AlreadyExists);
      }
      await insertTenant(tx, row);
      await appendAuditEvent(tx, { time: now, action: "create_tenant", keyId: "", actorKeyId: actor.keyId, details: { display_name: displayName, policy, ...jwt }, tenantId });
    }));
    return create(CreateTenantResponseSchema, { tenant: tenantToProto(row) });
  }

  async getTenant(req: GetTenantRequest, ctx: CallContext): Promise<GetTenantResponse> {
    const tenantId = requireTenantId(req.tenantId);
    // Any role over the tenant: its own admins may read it; a tenant out of reach is NOT_FOUND.
    await this.#d.admin.requireRole(ctx, "any", { tenantId });
    const row = await findLiveTenant(this.#d.db, tenantId);
    if (!row) throw tenantNotFound(tenantId);
    return create(GetTenantResponseSchema, { tenant: tenantToProto(row) });
  }

  async listTenants(req: ListTenantsRequest, ctx: CallContext): Promise<ListTenantsResponse> {
    await this.#d.admin.requireRole(ctx, ROLES.tenantsAdmin);
    if (req.pageSize < 0) throw invalid("page_size: must not be negative");
    const limit = req.pageSize === 0 ? LIMITS.defaultPageSize : Math.min(req.pageSize, LIMITS.maxPageSize);
    const after = req.pageToken
      ? decodePageToken(req.pageToken, "tenants", "ListTenants", ([id, ...rest]) => (typeof id === "string" && rest.length === 0 ? id : undefined))
      : undefined;
    const rows = await listLiveTenants(this.#d.db, after, limit + 1);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return create(ListTenantsResponseSchema, {
      tenants: page.map(tenantToProto),
      nextPageToken: rows.length > limit && last ? encodePageToken([last.tenant_id], "tenants") : "",
    });
  }

  async updateTenant(req: UpdateTenantRequest, ctx: CallContext): Promise<UpdateTenantResponse> {
    if (!req.tenant) throw invalid("tenant: required (its tenant_id names the tenant, update_mask the fields to change)");
    const tenantId = requireTenantId(req.tenant.tenantId, "tenant.tenant_id");
    const { actor } = await this.#d.admin.requireRole(ctx, ROLES.tenantsAdmin, { tenantId });
    const paths = req.updateMask?.paths ?? [];
    if (paths.length === 0 || paths.some((p) => !UPDATABLE.includes(p))) throw invalid(`update_mask: name the fields to change; updatable fields: ${UPDATABLE.join(", ")}`);
    const fields = [...new Set(paths)];
    const displayName = fields.includes("display_name") ? requireBoundedText(req.tenant.displayName, "tenant.display_name", DISPLAY_NAME_CHARS) : undefined;
    const policy = fields.includes("policy") ? policyFromProto(req.tenant.policy, "tenant.policy", this.#d.settings) : undefined;
    const jwt = {
      ...(fields.includes("jwt_issuer") ? { jwt_issuer: requireJwtIssuer(req.tenant.jwtIssuer, "tenant.jwt_issuer", this.#d.settings.issuer) } : {}),
      ...(fields.includes("jwt_audience") ? { jwt_audience: requireJwtAudience(req.tenant.jwtAudience, "tenant.jwt_audience") } : {}),
    };
    const now = this.#d.now();
    const row = await this.#writeIssuer(jwt.jwt_issuer ?? null, "tenant.jwt_issuer", () => this.#d.db.transaction().execute(async (tx) => {
      await this.#d.recheck.requireAdmin(tx, actor);
      const set = { update_time: now, ...(displayName === undefined ? {} : { display_name: displayName }), ...(policy === undefined ? {} : { policy: JSON.stringify(policy) }), ...jwt };
      if (!(await updateLiveTenant(tx, tenantId, set))) throw tenantNotFound(tenantId);
      const details = { fields, ...(displayName === undefined ? {} : { display_name: displayName }), ...(policy === undefined ? {} : { policy }), ...jwt };
      await appendAuditEvent(tx, { time: now, action: "update_tenant", keyId: "", actorKeyId: actor.keyId, details, tenantId });
      // Every process caches the tenant's network boundary and issuer: the feed tells them it changed
      // (one entry per update; an audience change too, so no cache of the JWT settings can miss one).
      if (policy !== undefined || Object.keys(jwt).length > 0) await appendChange(tx, { key_id: null, signing_key_id: null, action: "tenant_update", reason: null, actor_key_id: actor.keyId, time: now, tenant_id: tenantId });
      return findLiveTenant(tx, tenantId);
    }));
    // Before we answer, this process applies the change (tokens of the old issuer stop verifying here); others follow the feed.
    if ("jwt_issuer" in jwt) this.#d.issuers.invalidate(tenantId);
    if (policy !== undefined) this.#d.boundaries?.invalidate(tenantId);
    return create(UpdateTenantResponseSchema, { tenant: tenantToProto(row!) });
  }

  /** Runs a write that sets `issuer`; the unique index's refusal (another tenant has it) is ALREADY_EXISTS naming the field. */
  async #writeIssuer<T>(issuer: string | null, field: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      if (issuer !== null && isUniqueViolation(err) && violatesIssuerIndex(err)) {
        throw new ConnectError(`${field}: another tenant has (or a deleted tenant had) this issuer; an issuer names one tenant only`, Code.AlreadyExists);
      }
      throw err;
    }
  }

  async deleteTenant(req: DeleteTenantRequest, ctx: CallContext): Promise<DeleteTenantResponse> {
    const tenantId = requireTenantId(req.tenantId);
    const { actor } = await this.#d.admin.requireRole(ctx, ROLES.tenantsAdmin, { tenantId });
    if (tenantId === DEFAULT_TENANT) throw new ConnectError(`tenant ${DEFAULT_TENANT} cannot be deleted: it holds the platform's own keys`, Code.FailedPrecondition);
    const now = this.#d.now();
    const revoked = await this.#d.db.transaction().execute(async (tx) => {
      await this.#d.recheck.requireAdmin(tx, actor);
      if (!req.force && (await hasActiveKeys(tx, tenantId, now))) {
        throw new ConnectError(`tenant ${tenantId} still has active keys: revoke them first, or delete with force (which revokes them all)`, Code.FailedPrecondition);
      }
      const max = this.#d.maxForcedRevocations ?? DEFAULT_MAX_FORCED_REVOCATIONS;
      const keyIds = await unrevokedKeyIds(tx, tenantId, this.#d.dialect === "postgres", max + 1);
      if (keyIds.length > max) {
        throw new ConnectError(
          `tenant ${tenantId} has more than ${max} unrevoked keys, the most a forced delete revokes in one transaction: revoke some first (RevokeKey, sigil keys revoke), then delete it`,
          Code.FailedPrecondition,
        );
      }
      for (const keyId of keyIds) {
        if (!(await markKeyRevoked(tx, keyId, now, DELETED_REASON))) continue;
        await appendChange(tx, { key_id: keyId, action: "revoke", reason: DELETED_REASON, actor_key_id: actor.keyId, time: now, tenant_id: tenantId });
        await appendAuditEvent(tx, { time: now, action: "revoke", keyId, actorKeyId: actor.keyId, details: { reason: DELETED_REASON, self_revocation: false }, tenantId });
      }
      if (!(await markTenantDeleted(tx, tenantId, now))) throw tenantNotFound(tenantId);
      await appendAuditEvent(tx, { time: now, action: "delete_tenant", keyId: "", actorKeyId: actor.keyId, details: { force: req.force, revoked_key_count: keyIds.length }, tenantId });
      return keyIds;
    });
    // Before we answer, this process rejects them; others follow the feed.
    for (const keyId of revoked) this.#d.directory.invalidate(keyId);
    return create(DeleteTenantResponseSchema, { revokedKeyCount: revoked.length });
  }
}

/** The unique violation is the issuer's (SQLite names the column, PostgreSQL the index), not a concurrent CreateTenant of the same id. */
function violatesIssuerIndex(err: unknown): boolean {
  const e = err as { message?: string; constraint?: string };
  return e.constraint === "tenants_by_jwt_issuer" || (e.message ?? "").includes("tenants.jwt_issuer");
}

function tenantToProto(row: TenantRow): Tenant {
  return create(TenantSchema, {
    tenantId: row.tenant_id,
    displayName: row.display_name,
    createTime: timestampFromMs(Number(row.create_time)),
    updateTime: timestampFromMs(Number(row.update_time)),
    policy: policyToProto(parseStoredPolicy(row.policy)),
    jwtIssuer: row.jwt_issuer ?? "",
    jwtAudience: row.jwt_audience,
  });
}
