import type { Key } from "../../clients/typescript/src/gen/sigil/v1/key_pb.js";
import type { KeyRowUpdate } from "../store/tables/keys-table.js";
import type { AuditedKeySettings } from "./audit-details.js";
import { invalid, LIMITS, requireMetadata, requireName, requireScopes, timestampMs } from "./request-validation.js";
import { requireAllowedNetworks, requireCredits, requireRateLimit } from "./usage-validation.js";

/** The fields UpdateKey may change, as named in its update mask. */
export const UPDATABLE_FIELDS = ["name", "scopes", "metadata", "expire_time", "enabled", "rate_limit", "credits", "allowed_networks"] as const;
type UpdatableField = (typeof UPDATABLE_FIELDS)[number];

/** An UpdateKey request, checked: the columns to write and what the audit trail records. */
export interface KeyUpdate {
  readonly fields: readonly UpdatableField[];
  readonly set: KeyRowUpdate;
  readonly audit: AuditedKeySettings;
}

/**
 * Checks the mask and the masked fields of `key` (IssueKey's bounds) and maps them to columns.
 * A masked field left unset clears it: no expiry, no rate limit, no credits, any network.
 */
export function parseKeyUpdate(key: Key, paths: readonly string[], nowMs: number): KeyUpdate {
  if (paths.length === 0) throw invalid(`update_mask: name at least one field of: ${UPDATABLE_FIELDS.join(", ")}`);
  for (const path of paths) {
    if (!(UPDATABLE_FIELDS as readonly string[]).includes(path)) {
      // Quoted only when it looks like a field name: the path is outside text.
      const named = /^[a-z_.]{1,64}$/.test(path) ? ` "${path}"` : "";
      throw invalid(`update_mask:${named} cannot be updated; updatable fields: ${UPDATABLE_FIELDS.join(", ")}`);
    }
  }
  const fields = UPDATABLE_FIELDS.filter((f) => paths.includes(f));
  const set: KeyRowUpdate = {};
  const audit: { -readonly [K in keyof AuditedKeySettings]: AuditedKeySettings[K] } = {};
  for (const field of fields) {
    switch (field) {
      case "name":
        set.name = audit.name = requireName(key.name, "key.name");
        break;
      case "scopes":
        audit.scopes = requireScopes(key.scopes, "key.scopes");
        set.scopes = JSON.stringify(audit.scopes);
        break;
      case "metadata":
        audit.metadata = requireMetadata(key.metadata, "key.metadata");
        set.metadata = JSON.stringify(audit.metadata);
        break;
      case "expire_time": {
        let expireTime: number | null = null;
        if (key.expireTime) {
          expireTime = timestampMs(key.expireTime, "key.expire_time");
          if (!Number.isFinite(expireTime) || expireTime <= nowMs || expireTime > nowMs + LIMITS.maxKeyTtlMs) {
            throw invalid("key.expire_time: must be in the future and at most 10 years from now (unset it for no expiry)");
          }
        }
        set.expire_time = audit.expireTime = expireTime;
        break;
      }
      case "enabled":
        audit.enabled = key.enabled;
        set.enabled = key.enabled ? 1 : 0;
        break;
      case "rate_limit": {
        const limit = (audit.rateLimit = requireRateLimit(key.rateLimit, "key.rate_limit"));
        set.rate_limit_requests = limit?.requests ?? null;
        set.rate_limit_window_ms = limit?.windowMs ?? null;
        set.rate_limit_burst = limit?.burst ?? null;
        break;
      }
      case "credits": {
        const credits = (audit.credits = requireCredits(key.credits, nowMs, "key.credits"));
        set.credits_remaining = credits?.remaining ?? null;
        set.credits_refill_amount = credits?.refillAmount ?? null;
        set.credits_refill_interval_ms = credits?.refillIntervalMs ?? null;
        set.credits_refill_time = credits?.refillTime ?? null;
        break;
      }
      case "allowed_networks": {
        const networks = (audit.allowedNetworks = requireAllowedNetworks(key.allowedNetworks, "key.allowed_networks"));
        set.allowed_networks = networks ? JSON.stringify(networks.cidrs) : null;
        break;
      }
    }
  }
  return { fields, set, audit };
}
