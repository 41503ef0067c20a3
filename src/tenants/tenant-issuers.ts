import { LruCache } from "../cache/lru-cache.js";
import type { SigilDb } from "../store/database.js";
import { tenantTokenRow } from "../store/tenant-repository.js";
import { effectiveIssuer } from "./tenant-jwt.js";

/**
 * How long a process trusts the issuer it read for a tenant. UpdateTenant forgets it at once on
 * the process that made the change; every other process reads it again within this window (the
 * README's "another process sees an issuer change within a second").
 */
export const TENANT_ISSUER_TTL_MS = 1000;

/** Tenants whose issuers are remembered at once; more are read again as they are needed. */
const CAPACITY = 10_000;

/**
 * The issuer each tenant's derived JWTs must carry, for server-side verification (VerifyKey,
 * BatchVerifyKeys, forward auth, Envoy Check). Read from the tenants table and kept for
 * TENANT_ISSUER_TTL_MS, so a verification costs no query while the entry is fresh.
 */
export class TenantIssuers {
  readonly #db: SigilDb;
  readonly #serverIssuer: string;
  readonly #cache = new LruCache<string, { issuer: string; readAt: number }>(CAPACITY);
  readonly #loading = new Map<string, Promise<string>>();
  /** Bumped by `forget`, so a read that started before it does not store what it read. */
  #epoch = 0;

  constructor(db: SigilDb, serverIssuer: string) {
    this.#db = db;
    this.#serverIssuer = serverIssuer;
  }

  /** The tenant's issuer: synchronous while remembered. */
  issuerOf(tenantId: string, nowMs: number): string | Promise<string> {
    const cached = this.#cache.get(tenantId);
    if (cached && nowMs - cached.readAt < TENANT_ISSUER_TTL_MS && nowMs >= cached.readAt) return cached.issuer;
    const inflight = this.#loading.get(tenantId);
    if (inflight) return inflight;
    const epoch = this.#epoch;
    const load = tenantTokenRow(this.#db, tenantId)
      .then((row) => {
        const issuer = effectiveIssuer(this.#serverIssuer, tenantId, row?.jwt_issuer ?? null);
        if (epoch === this.#epoch) this.#cache.set(tenantId, { issuer, readAt: nowMs });
        return issuer;
      })
      .finally(() => this.#loading.delete(tenantId));
    this.#loading.set(tenantId, load);
    return load;
  }

  /** The tenant's issuer changed (UpdateTenant on this process): read it again at the next use. */
  forget(tenantId: string): void {
    this.#epoch++;
    this.#cache.delete(tenantId);
    this.#loading.delete(tenantId);
  }
}
