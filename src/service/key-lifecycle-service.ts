import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { KeyDirectory } from "../cache/key-directory.js";
import { formatApiKey } from "../keys/api-key-format.js";
import type { KeyHasher } from "../keys/key-hasher.js";
import { recordFromRow } from "../keys/key-record.js";
import { appendAuditEvent } from "../store/audit-repository.js";
import { appendChange } from "../store/change-feed-repository.js";
import type { SigilDb } from "../store/database.js";
import { replaceKeySecret, updateUnrevokedKey } from "../store/key-lifecycle-repository.js";
import { findKey } from "../store/key-repository.js";
import type { KeyRow } from "../store/tables/keys-table.js";
import type { LastUseRecorder } from "../usage/last-use-recorder.js";
import {
  RotateKeyResponseSchema,
  UpdateKeyResponseSchema,
  type RotateKeyRequest,
  type RotateKeyResponse,
  type UpdateKeyRequest,
  type UpdateKeyResponse,
} from "../../clients/typescript/src/gen/sigil/v1/key_lifecycle_pb.js";
import type { ActorRecheck } from "./actor-recheck.js";
import type { AdminAuthorizer } from "./admin-auth.js";
import { auditKeySettings } from "./audit-details.js";
import type { CallContext } from "./call-context.js";
import { keyToProto } from "./key-mapper.js";
import { ROLES } from "../tenants/roles.js";
import { grantRefusal, reaches, type RoleHolder } from "../tenants/tenant-access.js";
import type { TenantPolicies } from "../tenants/tenant-policies.js";
import { parseKeyUpdate } from "./key-update-mask.js";
import { requireNoReservedScopesOnImportedSecret } from "./reserved-scopes.js";
import { durationMs, invalid, LIMITS, requireKeyId } from "./request-validation.js";

export interface KeyLifecycleServiceDeps {
  readonly db: SigilDb;
  readonly directory: KeyDirectory;
  readonly admin: AdminAuthorizer;
  /** Authorizes each mutation again inside its transaction. */
  readonly recheck: ActorRecheck;
  /** Tenant policies the changed key must keep. */
  readonly policies: TenantPolicies;
  readonly hasher: KeyHasher;
  readonly lastUse?: LastUseRecorder;
  readonly now: () => number;
  /** Prefix of new key strings (a rotated imported key gets a Sigil key string). */
  readonly keyPrefix: string;
}

/** Longest grace period of a rotation. */
export const MAX_ROTATION_GRACE_MS = LIMITS.maxRotationGraceMs;

/** UpdateKey and RotateKey: changing a key after issue, without changing its id. */
export class KeyLifecycleService {
  readonly #d: KeyLifecycleServiceDeps;

  constructor(deps: KeyLifecycleServiceDeps) {
    this.#d = deps;
  }

  async updateKey(req: UpdateKeyRequest, ctx: CallContext): Promise<UpdateKeyResponse> {
    const { actor } = await this.#d.admin.requireRole(ctx, ROLES.keysWrite);
    if (!req.key) throw invalid("key: required (its key_id names the key, update_mask the fields to change)");
    const keyId = requireKeyId(req.key.keyId, "key.key_id");
    ctx.keyId = keyId;
    const now = this.#d.now();
    const update = parseKeyUpdate(req.key, req.updateMask?.paths ?? [], now);
    const row = await this.#d.db.transaction().execute(async (tx) => {
      const admin = await this.#d.recheck.requireAdmin(tx, actor, { changesActor: actor.keyId === keyId });
      const current = this.#requireUnrevoked(await findKey(tx, keyId), keyId, admin);
      if (update.audit.scopes) {
        // No escalation, its own key included: new `sigil:` scopes must be the caller's own, as its row holds them now.
        const refusal = grantRefusal(admin, current.tenant_id, update.audit.scopes);
        if (refusal) throw refusal;
        requireNoReservedScopesOnImportedSecret(recordFromRow(current), update.audit.scopes, now);
      }
      if (update.fields.includes("expire_time") || update.fields.includes("scopes")) {
        const terms = {
          ...(update.fields.includes("expire_time") ? { expireTime: update.set.expire_time ?? null } : {}),
          ...(update.audit.scopes ? { scopes: update.audit.scopes } : {}),
        };
        await this.#d.policies.requireTerms(tx, current.tenant_id, terms, now);
      }
      if (!(await updateUnrevokedKey(tx, keyId, { ...update.set, update_time: now }))) throw revokedError(keyId);
      const tenantId = current.tenant_id;
      await appendChange(tx, { key_id: keyId, action: "update", reason: null, actor_key_id: actor.keyId, time: now, tenant_id: tenantId });
      await appendAuditEvent(tx, { time: now, action: "update", keyId, actorKeyId: actor.keyId, details: { fields: update.fields, ...auditKeySettings(update.audit) }, tenantId });
      return findKey(tx, keyId);
    });
    const record = recordFromRow(row!);
    // Before we answer, this process verifies with the new settings; others follow the feed.
    this.#d.directory.put(record);
    return create(UpdateKeyResponseSchema, { key: keyToProto(record, now, this.#d.lastUse?.pending(keyId)) });
  }

  async rotateKey(req: RotateKeyRequest, ctx: CallContext): Promise<RotateKeyResponse> {
    const { actor } = await this.#d.admin.requireRole(ctx, ROLES.keysWrite);
    const keyId = requireKeyId(req.keyId);
    ctx.keyId = keyId;
    const graceMs = req.gracePeriod ? durationMs(req.gracePeriod, "grace_period", 0, MAX_ROTATION_GRACE_MS) : 0;
    const now = this.#d.now();
    const { key, secret } = formatApiKey(this.#d.keyPrefix, keyId);
    const row = await this.#d.db.transaction().execute(async (tx) => {
      const admin = await this.#d.recheck.requireAdmin(tx, actor, { changesActor: actor.keyId === keyId });
      const current = this.#requireUnrevoked(await findKey(tx, keyId), keyId, admin);
      // The secret current now keeps verifying through the grace period; an older one stops here.
      const keep = graceMs > 0;
      const replaced = await replaceKeySecret(tx, keyId, current.secret_hash, {
        prefix: this.#d.keyPrefix,
        secret_hash: this.#d.hasher.hash(keyId, secret).toString("base64"),
        hash_version: this.#d.hasher.currentVersion,
        lookup_hash: null,
        secret_create_time: now,
        secret_hint: key.slice(-4),
        previous_secret_hash: keep ? current.secret_hash : null,
        previous_hash_version: keep ? current.hash_version : null,
        previous_lookup_hash: keep ? current.lookup_hash : null,
        previous_secret_create_time: keep ? Number(current.secret_create_time ?? current.create_time) : null,
        previous_secret_expire_time: keep ? now + graceMs : null,
        previous_secret_hint: keep ? current.secret_hint : null,
        update_time: now,
      });
      if (!replaced) throw new ConnectError(`key ${keyId} was rotated or revoked concurrently; retry`, Code.Aborted);
      await appendChange(tx, { key_id: keyId, action: "rotate", reason: null, actor_key_id: actor.keyId, time: now, tenant_id: current.tenant_id });
      await appendAuditEvent(tx, {
        tenantId: current.tenant_id,
        time: now,
        action: "rotate",
        keyId,
        actorKeyId: actor.keyId,
        details: { grace_period_seconds: graceMs / 1000, previous_secret_expire_time: keep ? new Date(now + graceMs).toISOString() : null },
      });
      return findKey(tx, keyId);
    });
    const record = recordFromRow(row!);
    this.#d.directory.put(record);
    return create(RotateKeyResponseSchema, { key: keyToProto(record, now, this.#d.lastUse?.pending(keyId)), secret: key });
  }

  /** The key, unrevoked; another tenant's key, to a caller bound to one tenant, is one that does not exist. */
  #requireUnrevoked(row: KeyRow | undefined, keyId: string, caller: RoleHolder): KeyRow {
    if (!row || !reaches(caller, row.tenant_id)) throw new ConnectError(`key ${keyId} not found`, Code.NotFound);
    if (row.revoke_time !== null) throw revokedError(keyId);
    return row;
  }
}

function revokedError(keyId: string): ConnectError {
  return new ConnectError(`key ${keyId} is revoked; revocation is final`, Code.FailedPrecondition);
}
