import type { Kysely, Transaction } from "kysely";
import type { Database } from "../store/database.js";
import type { NewKeyRow } from "../store/tables/keys-table.js";
import { countActiveKeys, tenantPolicyJson } from "../store/tenant-repository.js";
import { DEFAULT_TENANT } from "./tenant-id.js";
import { applyKeyDefaults, hasKeyDefaults } from "./tenant-key-defaults.js";
import { activeKeysRefusal, parseStoredPolicy, termsRefusal, type KeyTerms, type TenantPolicy } from "./tenant-policy.js";

type Db = Kysely<Database> | Transaction<Database>;

/**
 * What the key-writing services ask about tenant policies. Every check reads the tenant's row in
 * the database (or transaction) it is given: the write's own transaction, so a policy set or a key
 * issued concurrently is seen (on SQLite writes serialize; on PostgreSQL the count is read in the
 * same transaction as the insert, after locking the tenant's row).
 */
export class TenantPolicies {
  async policyOf(db: Db, tenantId: string): Promise<TenantPolicy> {
    return parseStoredPolicy(await tenantPolicyJson(db, tenantId));
  }

  /**
   * The new keys (IssueKey's group commit, imports) that break their tenant's policy, each with its
   * FAILED_PRECONDITION; read in the writing transaction. Keys beyond max_active_keys are refused
   * in the order given. `lockTenants` (PostgreSQL): the tenant rows are locked before counting.
   * The rows `rowOf` returns get the tenant's default rate limit and credits (tenant-key-defaults.ts)
   * where they name none, so they must be the rows the transaction then writes.
   */
  async newKeyRefusals<W>(tx: Transaction<Database>, writes: readonly W[], rowOf: (w: W) => NewKeyRow, lockTenants: boolean): Promise<Map<W, Error>> {
    const refused = new Map<W, Error>();
    const byTenant = new Map<string, W[]>();
    for (const w of writes) {
      const tenantId = rowOf(w).tenant_id ?? DEFAULT_TENANT;
      const group = byTenant.get(tenantId);
      if (group) group.push(w);
      else byTenant.set(tenantId, [w]);
    }
    // In tenant order, so two transactions lock tenant rows in the same order.
    for (const tenantId of [...byTenant.keys()].sort()) {
      const policy = await this.policyOf(tx, tenantId);
      if (Object.keys(policy).length === 0) continue;
      if (hasKeyDefaults(policy)) for (const w of byTenant.get(tenantId)!) applyKeyDefaults(rowOf(w), policy);
      const fit: W[] = [];
      for (const w of byTenant.get(tenantId)!) {
        const row = rowOf(w);
        const refusal = termsRefusal(tenantId, policy, { expireTime: row.expire_time ?? null, scopes: JSON.parse(row.scopes) as string[] }, Number(row.create_time));
        if (refusal) refused.set(w, refusal);
        else fit.push(w);
      }
      if (policy.maxActiveKeys === undefined || fit.length === 0) continue;
      if (lockTenants) await tx.selectFrom("tenants").select("tenant_id").where("tenant_id", "=", tenantId).forUpdate().execute();
      const now = Math.min(...fit.map((w) => Number(rowOf(w).create_time)));
      const active = await countActiveKeys(tx, tenantId, now);
      const refusal = activeKeysRefusal(tenantId, policy, active, fit.length);
      if (refusal) for (const w of fit.slice(Math.max(0, policy.maxActiveKeys - active))) refused.set(w, refusal);
    }
    return refused;
  }

  /** Throws FAILED_PRECONDITION naming the policy a key with these terms would break. */
  async requireTerms(db: Db, tenantId: string, terms: KeyTerms, nowMs: number): Promise<void> {
    const refusal = termsRefusal(tenantId, await this.policyOf(db, tenantId), terms, nowMs);
    if (refusal) throw refusal;
  }
}
