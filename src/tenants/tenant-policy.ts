import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { TenantPolicySchema, type TenantPolicy as TenantPolicyProto } from "../../clients/typescript/src/gen/sigil/v1/tenant_pb.js";
import { RESERVED_SCOPE_PREFIX } from "../service/reserved-scopes.js";
import { durationMs, invalid, LIMITS, requireScopes } from "../service/request-validation.js";
import { requireAllowedNetworks, requireCredits, requireRateLimit } from "../service/usage-validation.js";
import type { RateLimitConfig } from "../usage/rate-limiter.js";
import { rateLimitToProto } from "../service/key-mapper.js";
import { creditsToProto, type DefaultCredits } from "./tenant-key-defaults.js";

/** A tenant's rules for its keys (stored as JSON in tenants.policy). Absent fields mean no rule. */
export interface TenantPolicy {
  readonly maxKeyLifetimeMs?: number;
  readonly requireExpiry?: boolean;
  readonly allowedScopePatterns?: readonly string[];
  readonly maxActiveKeys?: number;
  /** Longest lifetime of a derived token (DeriveToken; see derived-token-lifetime.ts). */
  readonly maxDerivedTokenLifetimeMs?: number;
  /** The network boundary: canonical CIDRs (tenant-network-boundaries.ts). */
  readonly allowedNetworks?: readonly string[];
  /** Given to new keys that name none (tenant-key-defaults.ts). */
  readonly defaultRateLimit?: RateLimitConfig;
  readonly defaultCredits?: DefaultCredits;
}

export const MAX_ACTIVE_KEYS_LIMIT = 1_000_000;

/** Server settings a policy is bounded by. */
export interface PolicyBounds {
  /** The server's longest derived-token lifetime (SIGIL_TOKEN_MAX_TTL). */
  readonly tokenMaxTtlMs: number;
}

/** The policy of a request (CreateTenant, UpdateTenant); INVALID_ARGUMENT naming the field. */
export function policyFromProto(p: TenantPolicyProto | undefined, field: string, bounds: PolicyBounds): TenantPolicy {
  if (!p) return {};
  const policy: { -readonly [K in keyof TenantPolicy]: TenantPolicy[K] } = {};
  if (p.maxKeyLifetime) policy.maxKeyLifetimeMs = durationMs(p.maxKeyLifetime, `${field}.max_key_lifetime`, 1000, LIMITS.maxKeyTtlMs);
  if (p.requireExpiry) policy.requireExpiry = true;
  if (p.allowedScopePatterns.length > 0) policy.allowedScopePatterns = requireScopes(p.allowedScopePatterns, `${field}.allowed_scope_patterns`);
  if (p.maxActiveKeys !== 0) {
    if (p.maxActiveKeys < 0 || p.maxActiveKeys > MAX_ACTIVE_KEYS_LIMIT) throw invalid(`${field}.max_active_keys: must be 0 (no limit) to ${MAX_ACTIVE_KEYS_LIMIT}`);
    policy.maxActiveKeys = p.maxActiveKeys;
  }
  if (p.maxDerivedTokenLifetime) {
    policy.maxDerivedTokenLifetimeMs = durationMs(p.maxDerivedTokenLifetime, `${field}.max_derived_token_lifetime`, 1000, bounds.tokenMaxTtlMs);
  }
  if (p.allowedNetworks.length > 0) policy.allowedNetworks = requireAllowedNetworks(p.allowedNetworks, `${field}.allowed_networks`)!.cidrs;
  if (p.defaultRateLimit) policy.defaultRateLimit = requireRateLimit(p.defaultRateLimit, `${field}.default_rate_limit`)!;
  if (p.defaultCredits) {
    const { remaining, refillAmount, refillIntervalMs } = requireCredits(p.defaultCredits, 0, `${field}.default_credits`)!;
    policy.defaultCredits = { remaining, refillAmount, refillIntervalMs };
  }
  return policy;
}

export function policyToProto(policy: TenantPolicy): TenantPolicyProto | undefined {
  if (Object.keys(policy).length === 0) return undefined;
  return create(TenantPolicySchema, {
    maxKeyLifetime: policy.maxKeyLifetimeMs === undefined ? undefined : durationFromMs(policy.maxKeyLifetimeMs),
    requireExpiry: policy.requireExpiry === true,
    allowedScopePatterns: [...(policy.allowedScopePatterns ?? [])],
    maxActiveKeys: policy.maxActiveKeys ?? 0,
    maxDerivedTokenLifetime: policy.maxDerivedTokenLifetimeMs === undefined ? undefined : durationFromMs(policy.maxDerivedTokenLifetimeMs),
    allowedNetworks: [...(policy.allowedNetworks ?? [])],
    defaultRateLimit: policy.defaultRateLimit && rateLimitToProto(policy.defaultRateLimit),
    defaultCredits: policy.defaultCredits && creditsToProto(policy.defaultCredits),
  });
}

export function parseStoredPolicy(json: string): TenantPolicy {
  return JSON.parse(json) as TenantPolicy;
}

/** What a key will be after the request: its expiry and scopes (for UpdateKey, only the fields it changes). */
export interface KeyTerms {
  /** undefined: the request does not change it. */
  readonly expireTime?: number | null;
  readonly scopes?: readonly string[];
}

/** `*` matches any run of characters; everything else literally. */
function patternRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&")).join(".*")}$`);
}

export function broken(tenantId: string, policy: string, why: string): ConnectError {
  return new ConnectError(`tenant ${tenantId} policy ${policy}: ${why}`, Code.FailedPrecondition);
}

/** Why a key with these terms breaks the tenant's policy (FAILED_PRECONDITION naming it), or undefined. */
export function termsRefusal(tenantId: string, policy: TenantPolicy, terms: KeyTerms, nowMs: number): ConnectError | undefined {
  if (terms.expireTime !== undefined) {
    if (policy.requireExpiry && terms.expireTime === null) return broken(tenantId, "require_expiry", "every key must expire: set ttl or expire_time");
    if (policy.maxKeyLifetimeMs !== undefined && (terms.expireTime === null || terms.expireTime - nowMs > policy.maxKeyLifetimeMs)) {
      return broken(tenantId, "max_key_lifetime", `keys may live at most ${policy.maxKeyLifetimeMs / 1000}s: set a ttl or expire_time within it`);
    }
  }
  const patterns = policy.allowedScopePatterns;
  if (terms.scopes && patterns && patterns.length > 0) {
    const allowed = patterns.map(patternRegExp);
    const outside = terms.scopes.filter((s) => !s.startsWith(RESERVED_SCOPE_PREFIX) && !allowed.some((re) => re.test(s)));
    if (outside.length > 0) return broken(tenantId, "allowed_scope_patterns", `${outside.join(" ")} matches none of ${patterns.join(" ")}`);
  }
  return undefined;
}

/** Whether `adding` more active keys fit under max_active_keys, given `active` now. */
export function activeKeysRefusal(tenantId: string, policy: TenantPolicy, active: number, adding: number): ConnectError | undefined {
  const max = policy.maxActiveKeys;
  if (max === undefined || active + adding <= max) return undefined;
  return broken(tenantId, "max_active_keys", `the tenant may hold at most ${max} active keys and holds ${active}; revoke some first`);
}
