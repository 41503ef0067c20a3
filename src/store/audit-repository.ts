import type { Kysely, Transaction } from "kysely";
import type { Database } from "./database.js";
import type { AuditActionName, AuditEventRow } from "./tables/audit-events-table.js";
import { DEFAULT_TENANT } from "../tenants/tenant-id.js";

type Db = Kysely<Database> | Transaction<Database>;

/** A mutation to record; details must not contain secrets. */
export interface AuditEntry {
  readonly time: number;
  readonly action: AuditActionName;
  readonly keyId: string;
  readonly actorKeyId: string | null;
  readonly details: Readonly<Record<string, unknown>>;
  /** The tenant of the key (or the tenant the event is about); `default` when unset. */
  readonly tenantId?: string;
}

/** Records one mutation; call it inside the mutation's transaction. */
export async function appendAuditEvent(db: Db, e: AuditEntry): Promise<void> {
  await appendAuditEvents(db, [e]);
}

/** Records several mutations in one statement. */
export async function appendAuditEvents(db: Db, entries: readonly AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await db
    .insertInto("audit_events")
    .values(entries.map((e) => ({ time: e.time, action: e.action, key_id: e.keyId, actor_key_id: e.actorKeyId, details: JSON.stringify(e.details), tenant_id: e.tenantId ?? DEFAULT_TENANT })))
    .execute();
}

export interface AuditQuery {
  /** Only events of this tenant, when set. */
  readonly tenantId?: string;
  readonly keyId?: string;
  readonly actorKeyId?: string;
  readonly action?: AuditActionName;
  /** Inclusive lower and exclusive upper bound on time (ms). */
  readonly startTime?: number;
  readonly endTime?: number;
  /** Continue below this seq (newest first). */
  readonly beforeSeq?: number;
  readonly limit: number;
}

/** Events newest first, filtered, one page. */
export async function listAuditEvents(db: Db, q: AuditQuery): Promise<AuditEventRow[]> {
  let query = db.selectFrom("audit_events").selectAll();
  if (q.tenantId !== undefined) query = query.where("tenant_id", "=", q.tenantId);
  if (q.keyId !== undefined) query = query.where("key_id", "=", q.keyId);
  if (q.actorKeyId !== undefined) query = query.where("actor_key_id", "=", q.actorKeyId);
  if (q.action !== undefined) query = query.where("action", "=", q.action);
  if (q.startTime !== undefined) query = query.where("time", ">=", q.startTime);
  if (q.endTime !== undefined) query = query.where("time", "<", q.endTime);
  if (q.beforeSeq !== undefined) query = query.where("seq", "<", q.beforeSeq);
  const rows = await query.orderBy("seq", "desc").limit(q.limit).execute();
  return rows.map((r) => ({ ...r, seq: Number(r.seq), time: Number(r.time) }));
}
