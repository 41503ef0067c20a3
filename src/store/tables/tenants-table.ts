import type { ColumnType, Insertable, Selectable } from "kysely";

/**
 * One tenant (migration 0008). A deleted tenant keeps its row (delete_time set): its keys stay
 * (revoked) with their audit trail, and its id is never handed out again, so a new tenant cannot
 * inherit them.
 */
export interface TenantsTable {
  tenant_id: string;
  display_name: string;
  create_time: number;
  update_time: number;
  delete_time: number | null;
  /** JSON of the TenantPolicy (src/tenants/tenant-policy.ts); "{}" for none. */
  policy: ColumnType<string, string | undefined, string>;
  /** `iss` of the tenant's derived JWTs (migration 0009); null: the default (src/tenants/tenant-jwt.ts). Unique. */
  jwt_issuer: ColumnType<string | null, string | null | undefined, string | null>;
  /** Default `aud` of its derived JWTs (migration 0009); "" for none. */
  jwt_audience: ColumnType<string, string | undefined, string>;
}

export type TenantRow = Selectable<TenantsTable>;
export type NewTenantRow = Insertable<TenantsTable>;
