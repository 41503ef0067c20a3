import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { SigilDb } from "../store/database.js";
import { findKey } from "../store/key-repository.js";
import { readKeyUsage, type KeyUsageCount } from "../store/usage-repository.js";
import { UNATTRIBUTED } from "../usage/usage-counter.js";
import {
  GetKeyUsageResponseSchema,
  KeyUsageBucketSchema,
  VerificationCountSchema,
  VerifyReason,
  type GetKeyUsageRequest,
  type GetKeyUsageResponse,
  type KeyUsageBucket,
} from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { ROLES } from "../tenants/roles.js";
import { DEFAULT_TENANT } from "../tenants/tenant-id.js";
import type { AdminAuthorizer } from "./admin-auth.js";
import type { CallContext } from "./call-context.js";
import { usageQuery, type UsageQuery } from "./usage-query.js";

export interface UsageServiceDeps {
  readonly db: SigilDb;
  readonly admin: AdminAuthorizer;
  readonly now: () => number;
}

/**
 * GetKeyUsage: a key's verifications per time bucket and outcome, for admins. A read: the admin
 * check may answer from the cache, as for GetKey. The counts are what every process has flushed
 * (src/usage/usage-counter.ts).
 */
export class UsageService {
  readonly #d: UsageServiceDeps;

  constructor(deps: UsageServiceDeps) {
    this.#d = deps;
  }

  async getKeyUsage(req: GetKeyUsageRequest, ctx: CallContext): Promise<GetKeyUsageResponse> {
    const caller = await this.#d.admin.requireRole(ctx, ROLES.keysRead);
    const query = usageQuery(req, this.#d.now());
    if (query.keyId !== UNATTRIBUTED) {
      ctx.keyId = query.keyId;
      const row = await findKey(this.#d.db, query.keyId);
      if (!row || !caller.reaches(row.tenant_id)) throw new ConnectError(`key ${query.keyId} not found`, Code.NotFound);
    } else if (caller.record.tenantId !== DEFAULT_TENANT) {
      // The unattributed series names no key, so no tenant: it is the platform's.
      throw new ConnectError(`unattributed: the verifications that named no key belong to no tenant; key ${caller.keyId} of tenant ${caller.record.tenantId} cannot read them`, Code.PermissionDenied);
    }
    const counts = await readKeyUsage(this.#d.db, query);
    return create(GetKeyUsageResponseSchema, {
      keyId: query.keyId,
      startTime: timestampFromMs(query.startTime),
      endTime: timestampFromMs(query.endTime),
      bucket: durationFromMs(query.bucketMs),
      buckets: bucketsOf(query, counts),
    });
  }
}

/** Every bucket of the range, empty ones included, each with its outcomes in reason order. */
function bucketsOf(query: UsageQuery, counts: readonly KeyUsageCount[]): KeyUsageBucket[] {
  const byBucket: Array<KeyUsageCount[] | undefined> = new Array(query.buckets);
  for (const c of counts) (byBucket[c.bucket] ??= []).push(c);
  return Array.from({ length: query.buckets }, (_, i) => {
    const outcomes = (byBucket[i] ?? []).filter((c) => c.count > 0).sort((a, b) => a.reason - b.reason);
    let valid = 0;
    let failed = 0;
    for (const c of outcomes) {
      if (c.reason === VerifyReason.VALID) valid += c.count;
      else failed += c.count;
    }
    return create(KeyUsageBucketSchema, {
      startTime: timestampFromMs(query.startTime + i * query.bucketMs),
      validCount: BigInt(valid),
      failedCount: BigInt(failed),
      outcomes: outcomes.map((c) => create(VerificationCountSchema, { reason: c.reason, count: BigInt(c.count) })),
    });
  });
}
