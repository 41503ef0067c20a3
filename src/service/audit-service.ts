import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { listAuditEvents } from "../store/audit-repository.js";
import type { SigilDb } from "../store/database.js";
import type { AuditActionName, AuditEventRow } from "../store/tables/audit-events-table.js";
import {
  AuditAction,
  AuditEventSchema,
  ListAuditEventsResponseSchema,
  type AuditEvent,
  type ListAuditEventsRequest,
  type ListAuditEventsResponse,
} from "../../clients/typescript/src/gen/sigil/v1/audit_pb.js";
import { ROLES } from "../tenants/roles.js";
import { DEFAULT_TENANT, optionalTenantId } from "../tenants/tenant-id.js";
import type { AdminAuthorizer } from "./admin-auth.js";
import type { CallContext } from "./call-context.js";
import { decodePageToken, encodePageToken, isSafeInteger } from "./page-token.js";
import { invalid, LIMITS, requireKeyId, timestampMs } from "./request-validation.js";

const ACTION_NAMES: Record<AuditAction, AuditActionName | undefined> = {
  [AuditAction.UNSPECIFIED]: undefined,
  [AuditAction.ISSUE_KEY]: "issue",
  [AuditAction.UPDATE_KEY]: "update",
  [AuditAction.ROTATE_KEY]: "rotate",
  [AuditAction.REVOKE_KEY]: "revoke",
  [AuditAction.IMPORT_KEY]: "import",
  [AuditAction.ROTATE_SIGNING_KEY]: "rotate_signing_key",
  [AuditAction.ISSUE_REPLAY]: "issue_replay",
  [AuditAction.CREATE_TENANT]: "create_tenant",
  [AuditAction.UPDATE_TENANT]: "update_tenant",
  [AuditAction.DELETE_TENANT]: "delete_tenant",
};

const ACTIONS: Record<AuditActionName, AuditAction> = {
  issue: AuditAction.ISSUE_KEY,
  update: AuditAction.UPDATE_KEY,
  rotate: AuditAction.ROTATE_KEY,
  revoke: AuditAction.REVOKE_KEY,
  import: AuditAction.IMPORT_KEY,
  rotate_signing_key: AuditAction.ROTATE_SIGNING_KEY,
  issue_replay: AuditAction.ISSUE_REPLAY,
  create_tenant: AuditAction.CREATE_TENANT,
  update_tenant: AuditAction.UPDATE_TENANT,
  delete_tenant: AuditAction.DELETE_TENANT,
};

/** ListAuditEvents: the audit trail of key mutations, for admins. */
export class AuditService {
  readonly #db: SigilDb;
  readonly #admin: AdminAuthorizer;

  constructor(db: SigilDb, admin: AdminAuthorizer) {
    this.#db = db;
    this.#admin = admin;
  }

  async listAuditEvents(req: ListAuditEventsRequest, ctx: CallContext): Promise<ListAuditEventsResponse> {
    const { tenantId } = await this.#admin.requireRole(ctx, ROLES.auditRead, { tenantId: optionalTenantId(req.tenantId), deletedToo: true });
    if (req.pageSize < 0) throw invalid("page_size: must not be negative");
    const limit = req.pageSize === 0 ? LIMITS.defaultPageSize : Math.min(req.pageSize, LIMITS.maxPageSize);
    const keyId = req.keyId === "" ? undefined : requireKeyId(req.keyId);
    const actorKeyId = req.actorKeyId === "" ? undefined : requireKeyId(req.actorKeyId, "actor_key_id");
    if (!(req.action in ACTION_NAMES)) throw invalid(`action: unknown value ${req.action}`);
    const action = ACTION_NAMES[req.action];
    const startTime = req.startTime ? timestampMs(req.startTime, "start_time") : undefined;
    const endTime = req.endTime ? timestampMs(req.endTime, "end_time") : undefined;
    if (startTime !== undefined && endTime !== undefined && endTime <= startTime) throw invalid("end_time: must be after start_time");
    // The default tenant's tokens keep their pre-tenant form, so a listing continues across the upgrade.
    const filters = [keyId ?? "", actorKeyId ?? "", action ?? "", startTime ?? "", endTime ?? ""];
    const filter = JSON.stringify(tenantId === DEFAULT_TENANT ? filters : [...filters, tenantId]);
    const beforeSeq = req.pageToken
      ? decodePageToken(req.pageToken, filter, "ListAuditEvents", ([seq, ...rest]) => (isSafeInteger(seq) && rest.length === 0 ? seq : undefined))
      : undefined;
    const rows = await listAuditEvents(this.#db, { tenantId, keyId, actorKeyId, action, startTime, endTime, beforeSeq, limit: limit + 1 });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return create(ListAuditEventsResponseSchema, {
      events: page.map(auditEventToProto),
      nextPageToken: rows.length > limit && last ? encodePageToken([last.seq], filter) : "",
    });
  }
}

function auditEventToProto(row: AuditEventRow): AuditEvent {
  return create(AuditEventSchema, {
    sequence: BigInt(row.seq),
    time: timestampFromMs(Number(row.time)),
    action: ACTIONS[row.action] ?? AuditAction.UNSPECIFIED,
    keyId: row.key_id,
    actorKeyId: row.actor_key_id ?? "",
    details: JSON.parse(row.details) as JsonObject,
    tenantId: row.tenant_id,
  });
}

/** Page tokens carry the last seq and a hash-free copy of the filters, so they only continue the same listing. */
