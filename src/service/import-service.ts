import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ImportedKeyIndex } from "../cache/imported-key-index.js";
import type { KeyDirectory } from "../cache/key-directory.js";
import { newKeyId } from "../keys/api-key-format.js";
import { hasSigilKeyShape, IMPORTED_KEY_MAX_CHARS, IMPORTED_KEY_MIN_CHARS, isPlausibleImportedKey, sha256Of, type ImportedKeyHasher } from "../keys/imported-key-hasher.js";
import { rowFromRecord, usageControlsOfRow, type KeyRecord } from "../keys/key-record.js";
import { appendAuditEvent } from "../store/audit-repository.js";
import { appendChange } from "../store/change-feed-repository.js";
import type { DialectName, SigilDb } from "../store/database.js";
import type { TenantPolicies } from "../tenants/tenant-policies.js";
import { findKeysByLookupHashes } from "../store/key-lifecycle-repository.js";
import { insertKey } from "../store/key-repository.js";
import { isUniqueViolation } from "../store/unique-violation.js";
import { looksLikeJwt } from "../tokens/derived-jwt.js";
import { MACAROON_TOKEN_PREFIX } from "../tokens/macaroon/index.js";
import {
  BatchImportKeysResponseSchema,
  ImportKeyResponseSchema,
  ImportKeyResultSchema,
  type BatchImportKeysRequest,
  type BatchImportKeysResponse,
  type ImportKeyRequest,
  type ImportKeyResponse,
  type ImportKeyResult,
} from "../../clients/typescript/src/gen/sigil/v1/key_import_pb.js";
import type { ActorRecheck } from "./actor-recheck.js";
import type { AdminAuthorizer } from "./admin-auth.js";
import { auditKeySettings } from "./audit-details.js";
import type { CallContext } from "./call-context.js";
import { keyToProto } from "./key-mapper.js";
import { requireNoReservedScopesOnImport } from "./reserved-scopes.js";
import type { MutationActor } from "./mutation-actor.js";
import { findLiveTenant } from "../store/tenant-repository.js";
import { ROLES } from "../tenants/roles.js";
import { resolveTenant } from "../tenants/tenant-access.js";
import { DEFAULT_TENANT, optionalTenantId, tenantNotFound } from "../tenants/tenant-id.js";
import type { AdminCaller } from "./admin-auth.js";
import { invalid, LIMITS, requireMetadata, requireName, requireOwner, requireScopes, timestampMs } from "./request-validation.js";
import { requireAllowedNetworks, requireCredits, requireRateLimit } from "./usage-validation.js";

export interface ImportServiceDeps {
  readonly db: SigilDb;
  readonly directory: KeyDirectory;
  readonly importedKeys: ImportedKeyIndex;
  readonly hasher: ImportedKeyHasher;
  readonly admin: AdminAuthorizer;
  /** Authorizes each import again inside its transaction. */
  readonly recheck: ActorRecheck;
  /** Tenant policies the imported keys must keep. */
  readonly policies: TenantPolicies;
  readonly dialect: DialectName;
  readonly now: () => number;
  /** This server's key prefix: strings in Sigil's own format are issued, not imported. */
  readonly keyPrefix: string;
}

/** Most keys in one BatchImportKeys call. */
export const MAX_BATCH_IMPORT = 1000;

/** An import request, checked and hashed; holds no key string. */
interface PreparedImport {
  /** Once written, with the tenant's default usage controls it got (tenant-key-defaults.ts). */
  record: KeyRecord;
  /** base64 lookup hash (current server-secret version). */
  readonly lookupHash: string;
  readonly source: "raw_key" | "raw_key_sha256";
}

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/**
 * ImportKey and BatchImportKeys: keys of another system (their string, or the SHA-256 of it) come
 * under Sigil's management with a Sigil key id. Only a keyed hash of SHA-256(string) is stored,
 * which VerifyKey finds the key by; the string itself is never stored or logged.
 */
export class ImportService {
  readonly #d: ImportServiceDeps;

  constructor(deps: ImportServiceDeps) {
    this.#d = deps;
  }

  async importKey(req: ImportKeyRequest, ctx: CallContext): Promise<ImportKeyResponse> {
    const { actor, tenantId } = await this.#d.admin.requireRole(ctx, ROLES.keysWrite, { tenantId: optionalTenantId(req.tenantId) });
    const now = this.#d.now();
    const item = this.#prepare(req, now, "", tenantId);
    ctx.keyId = item.record.keyId;
    // Only this tenant's keys make a duplicate: another tenant's holding the string is not revealed.
    const duplicate = (await findKeysByLookupHashes(this.#d.db, [item.lookupHash])).filter((row) => row.tenant_id === tenantId);
    if (duplicate.length > 0) throw alreadyImported(duplicate[0]!.key_id);
    try {
      await this.#insert([item], actor, now);
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyImported(undefined);
      throw err;
    }
    return create(ImportKeyResponseSchema, { key: keyToProto(item.record, now) });
  }

  async batchImportKeys(req: BatchImportKeysRequest, ctx: CallContext): Promise<BatchImportKeysResponse> {
    const caller = await this.#d.admin.requireRole(ctx, ROLES.keysWrite);
    const { actor } = caller;
    const n = req.requests.length;
    if (n === 0 || n > MAX_BATCH_IMPORT) throw invalid(`requests: must hold 1 to ${MAX_BATCH_IMPORT} items, got ${n}`);
    const now = this.#d.now();
    const results: Array<ImportKeyResult | undefined> = new Array(n);
    const prepared: Array<{ index: number; item: PreparedImport }> = [];
    const live = new Map<string, boolean>();
    for (const [index, r] of req.requests.entries()) {
      try {
        const tenantId = await this.#itemTenant(caller, r.tenantId, `requests[${index}].tenant_id`, live);
        prepared.push({ index, item: this.#prepare(r, now, `requests[${index}].`, tenantId) });
      } catch (err) {
        if (!(err instanceof ConnectError)) throw err;
        results[index] = failure(err);
      }
    }
    // Duplicates of existing keys, and of earlier items of this batch, fail alone.
    const existing = await findKeysByLookupHashes(this.#d.db, prepared.map((p) => p.item.lookupHash));
    // Keyed by tenant and hash: a string is a duplicate only of a key of the same tenant.
    const taken = new Map<string, string>();
    for (const row of existing) {
      if (row.lookup_hash) taken.set(`${row.tenant_id}|${row.lookup_hash}`, row.key_id);
      if (row.previous_lookup_hash) taken.set(`${row.tenant_id}|${row.previous_lookup_hash}`, row.key_id);
    }
    const fresh: typeof prepared = [];
    for (const p of prepared) {
      const slot = `${p.item.record.tenantId}|${p.item.lookupHash}`;
      const holder = taken.get(slot);
      if (holder !== undefined) {
        results[p.index] = failure(alreadyImported(holder, p.index));
        continue;
      }
      taken.set(slot, p.item.record.keyId);
      fresh.push(p);
    }
    try {
      await this.#insert(fresh.map((p) => p.item), actor, now);
    } catch (err) {
      if (!isUniqueViolation(err) && !isPolicyRefusal(err)) throw err;
      // A concurrent import took one of the strings, or some keys break the tenant's policy: import one
      // at a time so only those fail.
      for (const p of fresh) {
        try {
          await this.#insert([p.item], actor, now);
        } catch (itemErr) {
          // The actor's refusal (revoked meanwhile, say) fails this item and every later one.
          if (itemErr instanceof ConnectError) results[p.index] = failure(itemErr);
          else if (isUniqueViolation(itemErr)) results[p.index] = failure(alreadyImported(undefined, p.index));
          else throw itemErr;
        }
      }
    }
    for (const p of fresh) results[p.index] ??= create(ImportKeyResultSchema, { result: { case: "key", value: keyToProto(p.item.record, now) } });
    return create(BatchImportKeysResponseSchema, { results: results as ImportKeyResult[] });
  }

  /** The tenant a batch item goes to: the one it names (which must exist and be the caller's to reach), else the caller's. */
  async #itemTenant(caller: AdminCaller, requested: string, field: string, live: Map<string, boolean>): Promise<string> {
    const tenantId = resolveTenant(caller.record, optionalTenantId(requested, field));
    if (tenantId === caller.record.tenantId || tenantId === DEFAULT_TENANT) return tenantId;
    let exists = live.get(tenantId);
    if (exists === undefined) live.set(tenantId, (exists = (await findLiveTenant(this.#d.db, tenantId)) !== undefined));
    if (!exists) throw tenantNotFound(tenantId);
    return tenantId;
  }

  /** Checks one request and hashes its key; throws INVALID_ARGUMENT naming the field. */
  #prepare(req: ImportKeyRequest, now: number, field: string, tenantId: string): PreparedImport {
    let sha256: Buffer;
    const material = req.keyMaterial;
    if (material.case === "rawKey") {
      sha256 = sha256Of(this.#requireImportable(material.value, `${field}raw_key`));
    } else if (material.case === "rawKeySha256") {
      if (!SHA256_HEX.test(material.value)) throw invalid(`${field}raw_key_sha256: must be 64 hex digits (the SHA-256 of the key string)`);
      sha256 = Buffer.from(material.value, "hex");
    } else {
      throw invalid(`${field}key_material: set raw_key or raw_key_sha256`);
    }
    let expireTime: number | null = null;
    if (req.expireTime) {
      expireTime = timestampMs(req.expireTime, `${field}expire_time`);
      if (!Number.isFinite(expireTime) || expireTime <= now || expireTime > now + LIMITS.maxKeyTtlMs) {
        throw invalid(`${field}expire_time: must be in the future and at most 10 years from now`);
      }
    }
    const lookupHash = this.#d.hasher.lookupHash(sha256);
    const record: KeyRecord = {
      keyId: newKeyId(),
      // An imported string has no Sigil prefix; a rotation later gives the key one.
      prefix: "",
      name: prefixed(field, () => requireName(req.name)),
      owner: prefixed(field, () => requireOwner(req.owner)),
      scopes: requireImportableScopes(req.scopes, `${field}scopes`),
      metadata: prefixed(field, () => requireMetadata(req.metadata)),
      secretHash: lookupHash,
      hashVersion: this.#d.hasher.currentVersion,
      createTime: now,
      updateTime: now,
      expireTime,
      revokeTime: null,
      revokeReason: null,
      enabled: true,
      imported: true,
      secretImported: true,
      secretCreateTime: now,
      secretHint: null,
      previousSecret: null,
      rateLimit: requireRateLimit(req.rateLimit, `${field}rate_limit`),
      credits: requireCredits(req.credits, now, `${field}credits`),
      allowedNetworks: requireAllowedNetworks(req.allowedNetworks, `${field}allowed_networks`),
      lastUseTime: null,
      tenantId,
    };
    return { record, lookupHash: lookupHash.toString("base64"), source: material.case === "rawKey" ? "raw_key" : "raw_key_sha256" };
  }

  /** A key string VerifyKey would route to the imported-key lookup; messages never quote it. */
  #requireImportable(raw: string, field: string): string {
    const prefix = this.#d.keyPrefix;
    if (hasSigilKeyShape(raw) || raw.startsWith(`${prefix}_`)) throw invalid(`${field}: is in Sigil's own key format; such keys are issued, not imported`);
    if (!isPlausibleImportedKey(raw)) {
      throw invalid(`${field}: must be ${IMPORTED_KEY_MIN_CHARS} to ${IMPORTED_KEY_MAX_CHARS} printable ASCII characters without spaces`);
    }
    if (looksLikeJwt(raw) || raw.startsWith(MACAROON_TOKEN_PREFIX)) throw invalid(`${field}: is a token (JWT or macaroon), not an API key`);
    return raw;
  }

  /** Inserts keys with their feed and audit rows in one transaction, then makes them verifiable here. */
  async #insert(items: readonly PreparedImport[], actor: MutationActor, now: number): Promise<void> {
    if (items.length === 0) return;
    const actorKeyId = actor.keyId;
    const written = new Map<PreparedImport, KeyRecord>();
    await this.#d.db.transaction().execute(async (tx) => {
      written.clear();
      const admin = await this.#d.recheck.requireAdmin(tx, actor);
      // Each item's tenant, from the actor's row and the tenants table as this transaction reads them.
      for (const tenantId of new Set(items.map((i) => i.record.tenantId))) {
        if (admin.tenantId !== DEFAULT_TENANT && admin.tenantId !== tenantId) throw tenantNotFound(tenantId);
        if (tenantId !== DEFAULT_TENANT && !(await findLiveTenant(tx, tenantId))) throw tenantNotFound(tenantId);
      }
      const rows = new Map(items.map((i) => [i, rowFromRecord(i.record)]));
      const broken = await this.#d.policies.newKeyRefusals(tx, items, (i) => rows.get(i)!, this.#d.dialect === "postgres");
      if (broken.size > 0) throw [...broken.values()][0]!;
      for (const item of items) {
        const { record, source } = item;
        const tenantId = record.tenantId;
        const row = rows.get(item)!;
        await insertKey(tx, row);
        written.set(item, { ...record, ...usageControlsOfRow(row) });
        await appendChange(tx, { key_id: record.keyId, action: "import", reason: null, actor_key_id: actorKeyId, time: now, tenant_id: tenantId });
        await appendAuditEvent(tx, { time: now, action: "import", keyId: record.keyId, actorKeyId, details: { source, ...auditKeySettings(written.get(item)!) }, tenantId });
      }
    });
    for (const item of items) item.record = written.get(item) ?? item.record;
    for (const { record } of items) {
      this.#d.directory.put(record);
      this.#d.importedKeys.imported(record.secretHash, record.keyId, record.tenantId);
    }
  }
}

const isPolicyRefusal = (err: unknown): boolean => err instanceof ConnectError && err.code === Code.FailedPrecondition;

function requireImportableScopes(scopes: readonly string[], field: string): string[] {
  const checked = requireScopes(scopes, field);
  requireNoReservedScopesOnImport(checked, field);
  return checked;
}

/** Runs a check whose message names a top-level field, prefixing the batch item. */
function prefixed<T>(field: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (field && err instanceof ConnectError) throw invalid(`${field}${err.rawMessage}`);
    throw err;
  }
}

function alreadyImported(keyId: string | undefined, index?: number): ConnectError {
  const where = index === undefined ? "" : `requests[${index}]: `;
  return new ConnectError(`${where}this key is already managed by Sigil${keyId ? ` (key ${keyId})` : ""}`, Code.AlreadyExists);
}

function failure(err: ConnectError): ImportKeyResult {
  return create(ImportKeyResultSchema, { result: { case: "error", value: { code: err.code, message: err.rawMessage } } });
}
