import { TokenLifetimeLimit } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import type { SigilDb } from "../store/database.js";
import { tenantTokenRow } from "../store/tenant-repository.js";
import { effectiveIssuer } from "./tenant-jwt.js";
import { broken, parseStoredPolicy } from "./tenant-policy.js";

/** What a token derived from a key of one tenant gets: its issuer, default audience and lifetime. */
export interface DerivedTokenTerms {
  /** `iss` of a JWT. */
  readonly issuer: string;
  /** `aud` of a JWT whose request names none ("" for none). */
  readonly defaultAudience: string;
  readonly lifetime: { readonly ms: number; readonly limit: TokenLifetimeLimit };
}

export interface DerivedTokenTermsSettings {
  readonly issuer: string;
  readonly tokenDefaultTtlMs: number;
  readonly tokenMaxTtlMs: number;
}

/**
 * DeriveToken asks it what the parent key's tenant says about the token. The tenant's row is read
 * from the database at each derive (as phase 1 reads policies at each write), so an UpdateTenant
 * on any process applies to the next derive everywhere.
 */
export class DerivedTokenTermsReader {
  readonly #db: SigilDb;
  readonly #settings: DerivedTokenTermsSettings;

  constructor(db: SigilDb, settings: DerivedTokenTermsSettings) {
    this.#db = db;
    this.#settings = settings;
  }

  /**
   * `requestedTtlMs` undefined: the request names no ttl. FAILED_PRECONDITION naming the policy when
   * the requested ttl is longer than the tenant's max_derived_token_lifetime.
   */
  async termsFor(tenantId: string, requestedTtlMs: number | undefined, parentRemainingMs: number | null): Promise<DerivedTokenTerms> {
    const row = await tenantTokenRow(this.#db, tenantId);
    const policyMaxMs = parseStoredPolicy(row?.policy ?? "{}").maxDerivedTokenLifetimeMs;
    if (requestedTtlMs !== undefined && policyMaxMs !== undefined && requestedTtlMs > policyMaxMs) {
      throw broken(tenantId, "max_derived_token_lifetime", `derived tokens may live at most ${policyMaxMs / 1000}s: request a shorter ttl`);
    }
    return {
      issuer: effectiveIssuer(this.#settings.issuer, tenantId, row?.jwt_issuer ?? null),
      defaultAudience: row?.jwt_audience ?? "",
      lifetime: tokenLifetime(requestedTtlMs, policyMaxMs, this.#settings, parentRemainingMs),
    };
  }
}

/** The requested ttl (or the default, cut to the tenant's policy), capped by the server's maximum and the parent's remaining life; the limit says which cut it. */
function tokenLifetime(
  requestedTtlMs: number | undefined,
  policyMaxMs: number | undefined,
  settings: DerivedTokenTermsSettings,
  parentRemainingMs: number | null,
): { ms: number; limit: TokenLifetimeLimit } {
  let ms = requestedTtlMs ?? settings.tokenDefaultTtlMs;
  let limit = TokenLifetimeLimit.UNSPECIFIED;
  if (requestedTtlMs === undefined && policyMaxMs !== undefined && ms > policyMaxMs) [ms, limit] = [policyMaxMs, TokenLifetimeLimit.TENANT_POLICY];
  if (ms > settings.tokenMaxTtlMs) [ms, limit] = [settings.tokenMaxTtlMs, TokenLifetimeLimit.MAX_TTL];
  if (parentRemainingMs !== null && ms > parentRemainingMs) [ms, limit] = [parentRemainingMs, TokenLifetimeLimit.PARENT_EXPIRY];
  return { ms, limit };
}
