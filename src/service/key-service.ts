import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { KeyDirectory } from "../cache/key-directory.js";
import type { KeyHasher } from "../keys/key-hasher.js";
import { newKeyRecord, type NewKeySpec } from "../keys/new-key-record.js";
import { recordFromRow, rowFromRecord, usageControlsOfRow, type KeyRecord } from "../keys/key-record.js";
import type { VerifyingKey } from "../keys/verifying-key.js";
import type { Sealer } from "../keys/sealer.js";
import { appendAuditEvent } from "../store/audit-repository.js";
import { appendChange } from "../store/change-feed-repository.js";
import type { SigilDb } from "../store/database.js";
import type { KeyIssueWriter } from "../store/key-issue-writer.js";
import { findIssueRequest } from "../store/issue-request-repository.js";
import { findKey, listKeys, markKeyRevoked, type KeyStatusFilter } from "../store/key-repository.js";
import { looksLikeJwt, mintDerivedJwt } from "../tokens/derived-jwt.js";
import type { SigningKeys } from "../tokens/signing-keys.js";
import type { LastUseRecorder } from "../usage/last-use-recorder.js";
import type { MacaroonRootKeys } from "../tokens/macaroon-root-keys.js";
import {
  audCaveat,
  expiresCaveat,
  formatIdentifier,
  formatMacaroonToken,
  keyIdCaveat,
  MACAROON_TOKEN_PREFIX,
  mintMacaroon,
  newTokenId,
  scopeCaveat,
} from "../tokens/macaroon/index.js";
import { KeyStatus } from "../../clients/typescript/src/gen/sigil/v1/key_pb.js";
import { CreditsStatusSchema, RateLimitStatusSchema } from "../../clients/typescript/src/gen/sigil/v1/usage_pb.js";
import {
  DeriveTokenResponseSchema,
  GetJwksResponseSchema,
  GetKeyResponseSchema,
  IssueKeyResponseSchema,
  ListKeysResponseSchema,
  RevokeKeyResponseSchema,
  TokenFormat,
  VerifyKeyResponseSchema,
  VerifyReason,
  type DeriveTokenRequest,
  type DeriveTokenResponse,
  type GetJwksRequest,
  type GetJwksResponse,
  type GetKeyRequest,
  type GetKeyResponse,
  type IssueKeyRequest,
  type IssueKeyResponse,
  type ListKeysRequest,
  type ListKeysResponse,
  type RevokeKeyRequest,
  type RevokeKeyResponse,
  type VerifyKeyRequest,
  type VerifyKeyResponse,
} from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import type { DerivedTokenTermsReader } from "../tenants/derived-token-terms.js";
import { ROLES } from "../tenants/roles.js";
import { grantRefusal, reaches } from "../tenants/tenant-access.js";
import { DEFAULT_TENANT, optionalTenantId } from "../tenants/tenant-id.js";
import type { ActorRecheck } from "./actor-recheck.js";
import type { AdminAuthorizer } from "./admin-auth.js";
import { auditKeySettings } from "./audit-details.js";
import { bearerCredential } from "./admin-auth.js";
import type { CallContext } from "./call-context.js";
import type { CredentialVerifier, Verification } from "./credential-verifier.js";
import type { MutationActor } from "./mutation-actor.js";
import { keyToProto, optionalTimestamp } from "./key-mapper.js";
import { reservedScopesIn } from "./reserved-scopes.js";
import { requireAllowedNetworks, requireCredits, requireRateLimit } from "./usage-validation.js";
import { verifyRequestOptions } from "./verify-request.js";
import { decodePageToken, encodePageToken, isSafeInteger } from "./page-token.js";
import {
  durationMs,
  invalid,
  LIMITS,
  requireBoundedText,
  requireCredentialText,
  requireKeyId,
  requireMetadata,
  requireName,
  requireOwner,
  requireScopes,
  timestampMs,
} from "./request-validation.js";

export interface KeyServiceDeps {
  readonly db: SigilDb;
  /** Group-commits IssueKey writes; checks each write's actor in the batch's transaction. */
  readonly issueWriter: KeyIssueWriter<MutationActor>;
  readonly directory: KeyDirectory;
  readonly verifier: CredentialVerifier;
  readonly admin: AdminAuthorizer;
  /** Authorizes each mutation again inside its transaction. */
  readonly recheck: ActorRecheck;
  readonly hasher: KeyHasher;
  /** Seals secrets kept for idempotent IssueKey retries. */
  readonly issueSealer: Sealer;
  readonly signingKeys: SigningKeys;
  readonly macaroonRootKeys: MacaroonRootKeys;
  /** Issuer, default audience and lifetime of a derived token, from its parent's tenant. */
  readonly tokenTerms: DerivedTokenTermsReader;
  readonly now: () => number;
  /** Last uses not written yet, so GetKey and ListKeys on this process show them. */
  readonly lastUse?: LastUseRecorder;
  readonly settings: {
    readonly keyPrefix: string;
  };
}

/** How long an IssueKey request id protects against duplicate issues. */
const IDEMPOTENCY_WINDOW_MS = 24 * 3_600_000;

const STATUS_FILTER: Record<KeyStatus, KeyStatusFilter> = {
  [KeyStatus.UNSPECIFIED]: "any",
  [KeyStatus.ACTIVE]: "active",
  [KeyStatus.REVOKED]: "revoked",
  [KeyStatus.EXPIRED]: "expired",
  [KeyStatus.DISABLED]: "disabled",
};

export type { NewKeySpec } from "../keys/new-key-record.js";

/** Answers of the verifier that mean the presented secret matched the key (self-revocation). */
const SECRET_MATCHED = new Set([VerifyReason.VALID, VerifyReason.REVOKED, VerifyReason.EXPIRED, VerifyReason.DISABLED]);

/**
 * The KeyService, written once against the generated types; both listeners call it.
 * Dependencies come through the constructor so tests can build it over any store.
 */
export class KeyService {
  readonly #d: KeyServiceDeps;

  constructor(deps: KeyServiceDeps) {
    this.#d = deps;
  }

  async issueKey(req: IssueKeyRequest, ctx: CallContext): Promise<IssueKeyResponse> {
    const caller = await this.#d.admin.requireRole(ctx, ROLES.keysWrite, { tenantId: optionalTenantId(req.tenantId) });
    const now = this.#d.now();
    const spec = { ...this.#newKeySpec(req, now), tenantId: caller.tenantId };
    // No escalation: the `sigil:` scopes given must be the caller's own (checked again in the transaction).
    const refusal = grantRefusal(caller.record, caller.tenantId, spec.scopes);
    if (refusal) throw refusal;
    const actor = caller.actor.granting(spec.scopes);
    const requestId = requireBoundedText(req.requestId, "request_id", LIMITS.requestIdChars);
    const fingerprint = requestId ? fingerprintOf(req) : "";
    if (requestId) {
      const replay = await this.#replayIssue(actor, requestId, fingerprint, now);
      if (replay) {
        ctx.keyId = replay.key?.keyId;
        return replay;
      }
    }
    try {
      const issued = await this.issue(spec, { actor, requestId, fingerprint, now });
      ctx.keyId = issued.record.keyId;
      return create(IssueKeyResponseSchema, { key: keyToProto(issued.record, now), secret: issued.key });
    } catch (err) {
      // A concurrent retry with the same request id won the insert: answer with its result.
      if (requestId && isUniqueViolation(err)) {
        const replay = await this.#replayIssue(actor, requestId, fingerprint, now);
        if (replay) return replay;
      }
      throw err;
    }
  }

  #newKeySpec(req: IssueKeyRequest, now: number): NewKeySpec {
    let expireTime: number | null = null;
    if (req.expiration.case === "ttl") expireTime = now + durationMs(req.expiration.value, "ttl", 1000, LIMITS.maxKeyTtlMs);
    if (req.expiration.case === "expireTime") {
      expireTime = timestampMs(req.expiration.value, "expire_time");
      if (!Number.isFinite(expireTime) || expireTime <= now || expireTime > now + LIMITS.maxKeyTtlMs) {
        throw invalid("expire_time: must be in the future and at most 10 years from now");
      }
    }
    return {
      name: requireName(req.name),
      owner: requireOwner(req.owner),
      scopes: requireScopes(req.scopes),
      metadata: requireMetadata(req.metadata),
      expireTime,
      rateLimit: requireRateLimit(req.rateLimit),
      credits: requireCredits(req.credits, now),
      allowedNetworks: requireAllowedNetworks(req.allowedNetworks),
    };
  }

  /**
   * The answer to a retry of `actor`'s request id (request ids are scoped to the calling key), or
   * undefined when it has no live record. A replay hands out a secret again, so it is authorized
   * and audited in one transaction, like a mutation.
   */
  async #replayIssue(actor: MutationActor, requestId: string, fingerprint: string, now: number): Promise<IssueKeyResponse | undefined> {
    if (!(await findIssueRequest(this.#d.db, actor.keyId, requestId, now))) return undefined;
    return this.#d.db.transaction().execute(async (tx) => {
      await this.#d.recheck.requireAdmin(tx, actor);
      const previous = await findIssueRequest(tx, actor.keyId, requestId, now);
      if (!previous) return undefined;
      if (previous.fingerprint !== fingerprint) {
        throw new ConnectError("request_id was already used for a different IssueKey request", Code.AlreadyExists);
      }
      const row = await findKey(tx, previous.key_id);
      if (!row) throw new ConnectError(`key ${previous.key_id} of this request_id no longer exists`, Code.FailedPrecondition);
      await appendAuditEvent(tx, { time: now, action: "issue_replay", keyId: previous.key_id, actorKeyId: actor.keyId, details: { request_id: requestId }, tenantId: row.tenant_id });
      const key = this.#d.issueSealer.unseal(previous.sealed_secret, `${requestId}:${previous.key_id}`).toString("utf8");
      return create(IssueKeyResponseSchema, { key: keyToProto(recordFromRow(row), now), secret: key });
    });
  }

  /**
   * Creates a key: row, change-feed entry and (optionally) idempotency record in one transaction,
   * which first checks the actor again (ActorRecheck). `actor` null: the server itself creates its
   * first admin key at bootstrap.
   */
  async issue(
    spec: NewKeySpec,
    opts: {
      actor: MutationActor | null;
      requestId?: string;
      fingerprint?: string;
      now?: number;
      /** Runs before the row is written (bootstrap stores the key in its file first); a throw writes nothing. */
      beforeWrite?: (key: string) => void;
    },
  ): Promise<{ record: KeyRecord; key: string }> {
    const actorKeyId = opts.actor?.keyId ?? null;
    const now = opts.now ?? this.#d.now();
    const { record, key } = newKeyRecord(spec, { prefix: this.#d.settings.keyPrefix, hasher: this.#d.hasher, now });
    opts.beforeWrite?.(key);
    const keyId = record.keyId;
    const tenantId = record.tenantId;
    const row = rowFromRecord(record);
    await this.#d.issueWriter.write({
      key: row,
      change: { key_id: keyId, action: "issue", reason: null, actor_key_id: actorKeyId, time: now, tenant_id: tenantId },
      audit: {
        time: now,
        action: "issue",
        keyId,
        actorKeyId,
        // Read when the audit row is written, after the tenant's defaults went into the key's row.
        get details() {
          const applied = usageControlsOfRow(row);
          return auditKeySettings({ ...spec, ...(applied.rateLimit && { rateLimit: applied.rateLimit }), ...(applied.credits && { credits: applied.credits }) });
        },
        tenantId,
      },
      actor: opts.actor ?? undefined,
      issueRequest: opts.requestId && actorKeyId
        ? {
            actor_key_id: actorKeyId,
            request_id: opts.requestId,
            fingerprint: opts.fingerprint ?? "",
            key_id: keyId,
            sealed_secret: this.#d.issueSealer.seal(Buffer.from(key), `${opts.requestId}:${keyId}`),
            expire_time: now + IDEMPOTENCY_WINDOW_MS,
          }
        : undefined,
    });
    // The row as written: it may have got its tenant's default rate limit and credits.
    const stored: KeyRecord = { ...record, ...usageControlsOfRow(row) };
    this.#d.directory.put(stored);
    return { record: stored, key };
  }

  /** Synchronous when the answer is (cache hits, malformed input): the hot path takes no extra turn. */
  verifyKey(req: VerifyKeyRequest, ctx: CallContext): VerifyKeyResponse | Promise<VerifyKeyResponse> {
    const v = this.#d.verifier.verify(req.credential, verifyRequestOptions(req, this.#d.now(), () => ctx.peerAddress));
    const answer = (verification: Verification) => {
      ctx.keyId = verification.keyId;
      return verificationToProto(verification);
    };
    return v instanceof Promise ? v.then(answer) : answer(v);
  }

  async deriveToken(req: DeriveTokenRequest, ctx: CallContext): Promise<DeriveTokenResponse> {
    const credential = requireCredentialText(req.credential, "credential") || bearerCredential(ctx.authorization);
    if (!credential) throw new ConnectError("missing credential: set `credential` or send `authorization: Bearer <key>`", Code.Unauthenticated);
    const now = this.#d.now();
    // Tokens derive from API keys (Sigil's own or imported ones), never from other tokens.
    if (looksLikeJwt(credential) || credential.startsWith(MACAROON_TOKEN_PREFIX)) {
      throw new ConnectError("tokens can only be derived from an API key", Code.Unauthenticated);
    }
    const parent = await this.#d.verifier.verifyApiKey(credential, { requiredScopes: [], audience: "", nowMs: now, peerAddress: () => ctx.peerAddress });
    ctx.keyId = parent.keyId;
    if (!parent.valid || !parent.record) throw new ConnectError(`parent key is not valid (${VerifyReason[parent.reason]})`, Code.Unauthenticated);
    const record = parent.record;

    const requested = requireScopes(req.scopes);
    const missing = requested.filter((s) => !record.scopes.includes(s));
    if (missing.length > 0) throw new ConnectError(`scopes not held by the parent key: ${missing.join(" ")}`, Code.PermissionDenied);
    // Sigil's own roles stay on API keys: a token (handed on, perhaps logged) never carries one.
    const roles = reservedScopesIn(requested);
    if (roles.length > 0) throw new ConnectError(`scopes: ${roles.join(" ")} cannot be carried by a derived token (Sigil roles stay on API keys)`, Code.PermissionDenied);
    const scopes = requested.length > 0 ? requested : record.scopes.filter((s) => reservedScopesIn([s]).length === 0);
    // A derived token is a narrowed grant; one that grants nothing has no use.
    if (scopes.length === 0) throw new ConnectError("the parent key holds no scopes a token may carry, so no token can be derived from it", Code.FailedPrecondition);
    const requestedAudience = requireBoundedText(req.audience, "audience", LIMITS.audienceChars);
    const ttl = req.ttl ? durationMs(req.ttl, "ttl", 1000, LIMITS.maxKeyTtlMs) : undefined;
    // The tenant's policy, then the configured maximum and the parent's remaining life; the answer says which cut it.
    const terms = await this.#d.tokenTerms.termsFor(record.tenantId, ttl, record.expireTime === null ? null : record.expireTime - now);
    const lifetime = terms.lifetime;
    const expireTime = now + lifetime.ms;
    if (lifetime.ms < 1000) throw new ConnectError("parent key expires in less than a second", Code.FailedPrecondition);

    const format = req.format === TokenFormat.UNSPECIFIED ? TokenFormat.JWT : req.format;
    // The tenant's default audience is a JWT's only: a macaroon's holder adds `aud` caveats itself.
    const audience = requestedAudience || (format === TokenFormat.JWT ? terms.defaultAudience : "");
    const minted = await this.#mint(format, { record, scopes, audience, issuer: terms.issuer, now, expireTime });
    return create(DeriveTokenResponseSchema, { ...minted, format, keyId: record.keyId, scopes, ttl: durationFromMs(lifetime.ms), lifetimeLimit: lifetime.limit });
  }

  async #mint(
    format: TokenFormat,
    t: { record: VerifyingKey; scopes: string[]; audience: string; issuer: string; now: number; expireTime: number },
  ): Promise<{ token: string; tokenId: string; expireTime: ReturnType<typeof optionalTimestamp> }> {
    // Both formats carry whole-second expiry; report what the token says.
    const expireSeconds = Math.floor(t.expireTime / 1000);
    const expireTime = optionalTimestamp(expireSeconds * 1000);
    if (format === TokenFormat.JWT) {
      const { token, jti } = await mintDerivedJwt(await this.#d.signingKeys.signingKey(), {
        issuer: t.issuer,
        tenantId: t.record.tenantId,
        subject: t.record.owner,
        audience: t.audience || undefined,
        keyId: t.record.keyId,
        scopes: t.scopes,
        issuedAtMs: t.now,
        expireTimeMs: t.expireTime,
      });
      return { token, tokenId: jti, expireTime };
    }
    if (format === TokenFormat.MACAROON) {
      const tokenId = newTokenId();
      const caveats = [keyIdCaveat(t.record.keyId), expiresCaveat(new Date(expireSeconds * 1000)), scopeCaveat(t.scopes)];
      if (t.audience) caveats.push(audCaveat(t.audience));
      const macaroon = mintMacaroon({
        rootKey: this.#d.macaroonRootKeys.forMinting(t.record.keyId),
        identifier: formatIdentifier({ keyId: t.record.keyId, tokenId }),
        location: "sigil",
        caveats,
      });
      return { token: formatMacaroonToken(macaroon), tokenId, expireTime };
    }
    throw invalid(`format: unknown value ${format}`);
  }

  async revokeKey(req: RevokeKeyRequest, ctx: CallContext): Promise<RevokeKeyResponse> {
    const keyId = requireKeyId(req.keyId);
    const reason = requireBoundedText(req.reason, "reason", LIMITS.reasonChars);
    const actor = await this.#revocationActor(ctx, keyId);
    ctx.keyId = keyId;
    const now = this.#d.now();
    const row = await this.#d.db.transaction().execute(async (tx) => {
      // A holder revoking its own key needs no admin rights, and revoking only takes authority away.
      const admin = actor.admin ? await this.#d.recheck.requireAdmin(tx, actor.admin, { changesActor: actor.keyId === keyId }) : undefined;
      const target = await findKey(tx, keyId);
      // Another tenant's key, to a key bound to one tenant, is a key that does not exist.
      if (!target || (admin && !reaches(admin, target.tenant_id))) return undefined;
      const revoked = await markKeyRevoked(tx, keyId, now, reason);
      if (revoked) {
        await appendChange(tx, { key_id: keyId, action: "revoke", reason, actor_key_id: actor.keyId, time: now, tenant_id: target.tenant_id });
        await appendAuditEvent(tx, { time: now, action: "revoke", keyId, actorKeyId: actor.keyId, details: { reason, self_revocation: actor.self }, tenantId: target.tenant_id });
      }
      return findKey(tx, keyId);
    });
    if (!row) throw new ConnectError(`key ${keyId} not found`, Code.NotFound);
    const record = recordFromRow(row);
    // Before we answer, this process must already reject the key and its tokens.
    this.#d.directory.put(record);
    return create(RevokeKeyResponseSchema, { key: keyToProto(record, now) });
  }

  /**
   * Who may revoke `keyId`: an admin, or whoever presents that very key (a holder revoking a key
   * found leaked needs no admin). The key's own secret must match; its state does not matter.
   */
  async #revocationActor(ctx: CallContext, keyId: string): Promise<{ keyId: string; self: boolean; admin?: MutationActor }> {
    const credential = bearerCredential(ctx.authorization);
    let presented: Verification | undefined;
    if (credential) {
      presented = await this.#d.verifier.verifyApiKey(credential, { requiredScopes: [], audience: "", nowMs: this.#d.now() });
      if (presented.keyId === keyId && SECRET_MATCHED.has(presented.reason)) return { keyId, self: true };
    }
    try {
      const admin = await this.#d.admin.requireRole(ctx, ROLES.keysRevoke);
      return { keyId: admin.keyId, self: false, admin: admin.actor };
    } catch (err) {
      // A valid key that is not an admin's, naming another key: say what self-revocation allows.
      if (presented?.valid && err instanceof ConnectError && err.code === Code.PermissionDenied) {
        throw new ConnectError(`a key may only revoke itself: key ${presented.keyId} cannot revoke key ${keyId} (that needs an admin key)`, Code.PermissionDenied);
      }
      throw err;
    }
  }

  async getKey(req: GetKeyRequest, ctx: CallContext): Promise<GetKeyResponse> {
    const caller = await this.#d.admin.requireRole(ctx, ROLES.keysRead);
    const keyId = requireKeyId(req.keyId);
    ctx.keyId = keyId;
    const row = await findKey(this.#d.db, keyId);
    if (!row || !caller.reaches(row.tenant_id)) throw new ConnectError(`key ${keyId} not found`, Code.NotFound);
    return create(GetKeyResponseSchema, { key: keyToProto(recordFromRow(row), this.#d.now(), this.#d.lastUse?.pending(keyId)) });
  }

  async listKeys(req: ListKeysRequest, ctx: CallContext): Promise<ListKeysResponse> {
    const { tenantId } = await this.#d.admin.requireRole(ctx, ROLES.keysRead, { tenantId: optionalTenantId(req.tenantId) });
    if (req.pageSize < 0) throw invalid("page_size: must not be negative");
    const limit = req.pageSize === 0 ? LIMITS.defaultPageSize : Math.min(req.pageSize, LIMITS.maxPageSize);
    const owner = req.owner === "" ? undefined : requireOwner(req.owner);
    const status = STATUS_FILTER[req.status];
    if (status === undefined) throw invalid(`status: unknown value ${req.status}`);
    // The default tenant's tokens keep their pre-tenant form, so a listing continues across the upgrade.
    const filter = tenantId === DEFAULT_TENANT ? `${owner ?? ""}|${status}` : `${owner ?? ""}|${status}|${tenantId}`;
    const after = req.pageToken
      ? decodePageToken(req.pageToken, filter, "ListKeys", ([createTime, keyId, ...rest]) =>
          isSafeInteger(createTime) && typeof keyId === "string" && rest.length === 0 ? { createTime, keyId } : undefined,
        )
      : undefined;
    const now = this.#d.now();
    const rows = await listKeys(this.#d.db, { tenantId, owner, status, now, after, limit: limit + 1 });
    const page = rows.slice(0, limit).map(recordFromRow);
    const last = page[page.length - 1];
    return create(ListKeysResponseSchema, {
      keys: page.map((r) => keyToProto(r, now, this.#d.lastUse?.pending(r.keyId))),
      nextPageToken: rows.length > limit && last ? encodePageToken([last.createTime, last.keyId], filter) : "",
    });
  }

  async getJwks(_req: GetJwksRequest, _ctx: CallContext): Promise<GetJwksResponse> {
    await this.#d.signingKeys.settled();
    return create(GetJwksResponseSchema, { keys: this.#d.signingKeys.jwks().map((k) => ({ ...k })) });
  }
}

export function verificationToProto(v: Verification): VerifyKeyResponse {
  return create(VerifyKeyResponseSchema, {
    valid: v.valid,
    reason: v.reason,
    kind: v.kind,
    keyId: v.keyId ?? "",
    owner: v.valid ? v.record?.owner : "",
    tenantId: v.valid ? v.record?.tenantId : "",
    scopes: v.valid && v.scopes ? [...v.scopes] : [],
    expireTime: v.valid ? optionalTimestamp(v.expireTimeMs) : undefined,
    tokenId: v.tokenId ?? "",
    metadata: v.valid && v.record ? { ...v.record.metadata } : {},
    rateLimit: v.rateLimit
      ? create(RateLimitStatusSchema, {
          limit: v.rateLimit.limit,
          remaining: v.rateLimit.remaining,
          resetTime: optionalTimestamp(v.rateLimit.resetTime),
          retryTime: optionalTimestamp(v.rateLimit.retryTime),
        })
      : undefined,
    credits: v.credits ? create(CreditsStatusSchema, { remaining: BigInt(v.credits.remaining), nextRefillTime: optionalTimestamp(v.credits.nextRefillTime) }) : undefined,
  });
}

/** SHA-256 of the canonical form of an IssueKey request (request_id excluded). */
function fingerprintOf(req: IssueKeyRequest): string {
  const canonical = JSON.stringify([
    req.name,
    req.owner,
    [...req.scopes].sort(),
    Object.entries(req.metadata).sort(([a], [b]) => (a < b ? -1 : 1)),
    req.expiration.case ?? null,
    req.expiration.case === "ttl" ? [String(req.expiration.value.seconds), req.expiration.value.nanos] : null,
    req.expiration.case === "expireTime" ? [String(req.expiration.value.seconds), req.expiration.value.nanos] : null,
    // Usage controls only when set, so fingerprints of requests without them stay as they were.
    ...(req.rateLimit || req.credits || req.allowedNetworks.length > 0
      ? [
          req.rateLimit ? [req.rateLimit.requests, String(req.rateLimit.window?.seconds ?? 0), req.rateLimit.window?.nanos ?? 0, req.rateLimit.burst] : null,
          req.credits
            ? [String(req.credits.remaining), String(req.credits.refillAmount), String(req.credits.refillInterval?.seconds ?? 0), req.credits.refillInterval?.nanos ?? 0]
            : null,
          [...req.allowedNetworks],
        ]
      : []),
  ]);
  return createHash("sha256").update(canonical).digest("base64url");
}

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === "SQLITE_CONSTRAINT_PRIMARYKEY" || e?.code === "SQLITE_CONSTRAINT_UNIQUE" || e?.code === "23505";
}
