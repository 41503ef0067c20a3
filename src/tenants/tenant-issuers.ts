import type { SigilDb } from "../store/database.js";
import { tenantTokenRow } from "../store/tenant-repository.js";
import { TenantFeedCache } from "./tenant-feed-cache.js";
import { effectiveIssuer } from "./tenant-jwt.js";

/** Tenants whose issuers are remembered at once; more are read again as they are needed. */
const CAPACITY = 10_000;

/**
 * The issuer each tenant's derived JWTs must carry, for server-side verification (VerifyKey,
 * BatchVerifyKeys, forward auth, Envoy Check): read on the tenant's first verification and kept
 * until the change feed says the tenant changed (TenantFeedCache), so a verification costs no
 * query. While the database is out of reach the last issuer read holds: tokens of known keys keep
 * verifying, as API keys do.
 */
export class TenantIssuers extends TenantFeedCache<string> {
  /** `load` reads the tenant's effective issuer (its jwt_issuer, or the default for its id). */
  constructor(load: (tenantId: string) => Promise<string>, options: { capacity?: number } = {}) {
    super(load, { capacity: options.capacity ?? CAPACITY });
  }

  /** The tenant's issuer: synchronous once remembered. */
  issuerOf(tenantId: string): string | Promise<string> {
    return this.get(tenantId);
  }
}

/** The loader of a TenantIssuers: the tenant's issuer as its row says now (the default for no row). */
export function tenantIssuerReader(db: SigilDb, serverIssuer: string): (tenantId: string) => Promise<string> {
  return async (tenantId) => effectiveIssuer(serverIssuer, tenantId, (await tenantTokenRow(db, tenantId))?.jwt_issuer ?? null);
}
