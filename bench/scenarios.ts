// The scenarios: what is sent, to which server, and what a correct answer looks like. Every Sigil
// scenario names its limit: the reference scenario with the same method path and protocol.
import { VerifyReason } from "../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { comparisonScenarios } from "./comparison-scenarios.js";
import type { BenchConfig, Concurrency } from "./config.js";
import { keyAt } from "./datasets.js";
import type { Fixtures } from "./fixtures.js";
import type { LoadProtocol, RequestSourceSpec } from "./load/spec.js";
import { deriveBodies, deriveJwtRequest, issueBodies, verifyBodies } from "./request-bodies.js";
import type { SigilInstance } from "./servers/sigil-server.js";
import { bearer, METHOD_PATHS, type MethodName } from "./sigil-rpc.js";

/**
 * Which server a scenario runs against. Sigil runs on the large database with its default cache,
 * and, for the key-count comparison, with a one-entry cache (every verify reads the database) on
 * the large and on the small database. The comparisons of comparison-scenarios.ts run on the large
 * database with 1 and 2 workers, and on PostgreSQL. `sigil-tls` is the large database with TLS on
 * both listeners; its limit is `bare-grpc-tls`, bare grpc-js over TLS with the same certificate.
 */
export type ScenarioTarget =
  | "bare-grpc"
  | "bare-grpc-tls"
  | "bare-connect"
  | "sigil-main"
  | "sigil-tls"
  | "sigil-main-uncached"
  | "sigil-small-uncached"
  /** The servers of a feature-cost pair (feature-cost.ts): the main database, several at once. */
  | "sigil-feature-pair"
  | "sigil-workers-1"
  | "sigil-workers-2"
  | "sigil-postgres"
  /** Issue #13: the main key count dealt out to TENANT_COUNT tenants, default cache and cache size 1. */
  | "sigil-tenants"
  | "sigil-tenants-uncached";

/** Tenants of the multi-tenant database (issue #13's benchmark: 1,000 tenants × 1,000 keys in a full run). */
export const TENANT_COUNT = 1000;
/** SIGIL_CACHE_SIZE of the uncached instances: the smallest the server accepts. */
export const UNCACHED_CACHE_SIZE = 1;
/** 1×1, saturated, or a fixed rate below saturation (open-loop.ts; measured after the saturated run). */
export type Level = "latency" | "throughput" | "open-loop";
/** The closed-loop levels every scenario runs at. */
export const LEVELS: readonly Level[] = ["latency", "throughput"];

export interface Scenario {
  id: string;
  title: string;
  /** A few words for the chart. */
  label: string;
  target: ScenarioTarget;
  protocol: LoadProtocol;
  method: MethodName;
  /** Id of the reference scenario whose figures are this one's limit (Sigil scenarios only). */
  limitId?: string;
  requests(fixtures: Fixtures): RequestSourceSpec | undefined;
  headers?(fixtures: Fixtures): Record<string, string>;
  /** Also measured open loop, at fixed fractions of its own saturated rate (config.openLoopPercents). */
  openLoop?: boolean;
  /** One call through a real client before the load: returns a problem, or undefined if the answer is right. */
  preflight?(sigil: SigilInstance, fixtures: Fixtures): Promise<string | undefined>;
}

export function concurrencyOf(config: BenchConfig, level: Level, protocol: LoadProtocol): Concurrency {
  if (level === "latency") return config.latency;
  // Open loop: the saturated run's streams, so a slow answer never leaves a scheduled call without one.
  return protocol === "grpc" ? config.throughputHttp2 : config.throughputHttp1;
}

export const concurrencyLabel = (c: Concurrency): string => `${c.connections}×${c.streamsPerConnection}`;

const fixed = (bodies: Uint8Array[]): RequestSourceSpec => ({ kind: "fixed", bodies });

function randomStoredKey(fixtures: Fixtures, seed: number): RequestSourceSpec | undefined {
  const list = fixtures.storedKeys;
  return list && { kind: "random-key", keyText: list.keyText, lineStarts: list.lineStarts, lineCount: list.lineCount, seed };
}

const reasonName = (reason: VerifyReason): string => VerifyReason[reason] ?? String(reason);

function expectVerify(credential: (f: Fixtures) => string | undefined, valid: boolean, reason: VerifyReason) {
  return async (sigil: SigilInstance, fixtures: Fixtures): Promise<string | undefined> => {
    const value = credential(fixtures);
    if (value === undefined) return "no credential to check";
    const answer = await sigil.rpc.verifyKey({ credential: value });
    if (answer.valid === valid && answer.reason === reason) return undefined;
    return `expected valid=${valid} ${reasonName(reason)}, got valid=${answer.valid} ${reasonName(answer.reason)}`;
  };
}

async function expectConnectJsonValid(sigil: SigilInstance, fixtures: Fixtures): Promise<string | undefined> {
  const response = await fetch(`http://127.0.0.1:${sigil.httpPort}${METHOD_PATHS.VerifyKey}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ credential: fixtures.validKeys[0] }),
  });
  const text = await response.text();
  if (response.status === 200 && (JSON.parse(text) as { valid?: boolean }).valid === true) return undefined;
  return `expected HTTP 200 with valid=true, got HTTP ${response.status}: ${text.slice(0, 200)}`;
}

async function expectAuthorized(sigil: SigilInstance, fixtures: Fixtures): Promise<string | undefined> {
  const response = await fetch(`http://127.0.0.1:${sigil.httpPort}${METHOD_PATHS.Authorize}`, { headers: bearer(fixtures.validKeys[0]!) });
  await response.arrayBuffer();
  if (response.status === 200 && response.headers.get("x-sigil-key-id")) return undefined;
  return `expected HTTP 200 with X-Sigil-Key-Id, got HTTP ${response.status}`;
}

export function scenarios(config: BenchConfig): Scenario[] {
  const keys = (n: number): string => n.toLocaleString("en-US");
  const short = (n: number): string => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n));
  const core: Scenario[] = [
    // Limits: the bare servers, same paths, same request shapes.
    {
      id: "limit-grpc-verify",
      label: "bare grpc-js VerifyKey",
      title: "bare grpc-js: VerifyKey path",
      target: "bare-grpc",
      protocol: "grpc",
      method: "VerifyKey",
      requests: (f) => fixed(verifyBodies(f.validKeys, "grpc")),
    },
    {
      id: "limit-grpc-issue",
      label: "bare grpc-js IssueKey",
      title: "bare grpc-js: IssueKey path",
      target: "bare-grpc",
      protocol: "grpc",
      method: "IssueKey",
      requests: () => fixed(issueBodies(64, "grpc")),
      headers: (f) => bearer(f.adminKey),
    },
    {
      id: "limit-grpc-derive",
      label: "bare grpc-js DeriveToken",
      title: "bare grpc-js: DeriveToken path",
      target: "bare-grpc",
      protocol: "grpc",
      method: "DeriveToken",
      requests: (f) => fixed(deriveBodies(f.validKeys[0]!, "grpc")),
    },
    {
      id: "limit-grpc-verify-tls",
      label: "bare grpc-js VerifyKey, TLS",
      title: "bare grpc-js over TLS: VerifyKey path",
      target: "bare-grpc-tls",
      protocol: "grpc",
      method: "VerifyKey",
      requests: (f) => fixed(verifyBodies(f.validKeys, "grpc")),
    },
    {
      id: "limit-connect-verify",
      label: "bare connect-node VerifyKey",
      title: "bare connect-node (HTTP/1.1): VerifyKey, Connect JSON",
      target: "bare-connect",
      protocol: "connect-json",
      method: "VerifyKey",
      requests: (f) => fixed(verifyBodies(f.validKeys, "connect-json")),
    },
    // Sigil on the large database.
    {
      id: "verify-cache-hit",
      label: "verify, cache hit",
      title: "VerifyKey, valid key, cache hit",
      target: "sigil-main",
      protocol: "grpc",
      method: "VerifyKey",
      limitId: "limit-grpc-verify",
      openLoop: true,
      requests: (f) => fixed(verifyBodies(f.validKeys, "grpc")),
      preflight: expectVerify((f) => f.validKeys[0], true, VerifyReason.VALID),
    },
    {
      id: "verify-cache-hit-tls",
      label: "verify, cache hit, TLS",
      title: "VerifyKey, valid key, cache hit, over TLS (gRPC listener, ECDSA P-256 certificate)",
      target: "sigil-tls",
      protocol: "grpc",
      method: "VerifyKey",
      limitId: "limit-grpc-verify-tls",
      requests: (f) => fixed(verifyBodies(f.validKeys, "grpc")),
      preflight: expectVerify((f) => f.validKeys[0], true, VerifyReason.VALID),
    },
    {
      id: "verify-malformed",
      label: "verify, malformed key",
      title: "VerifyKey, malformed key",
      target: "sigil-main",
      protocol: "grpc",
      method: "VerifyKey",
      limitId: "limit-grpc-verify",
      requests: (f) => fixed(verifyBodies(f.malformedKeys, "grpc")),
      preflight: async (sigil, f) => {
        for (const key of f.malformedKeys) {
          const problem = await expectVerify(() => key, false, VerifyReason.MALFORMED)(sigil, f);
          if (problem) return problem;
        }
        return undefined;
      },
    },
    {
      id: "verify-unknown",
      label: "verify, unknown key",
      title: "VerifyKey, unknown key (well-formed, valid checksum)",
      target: "sigil-main",
      protocol: "grpc",
      method: "VerifyKey",
      limitId: "limit-grpc-verify",
      requests: (f) => fixed(verifyBodies(f.unknownKeys, "grpc")),
      preflight: expectVerify((f) => f.unknownKeys[0], false, VerifyReason.NOT_FOUND),
    },
    {
      id: "verify-jwt",
      label: "verify, derived JWT",
      title: "VerifyKey, derived JWT",
      target: "sigil-main",
      protocol: "grpc",
      method: "VerifyKey",
      limitId: "limit-grpc-verify",
      requests: (f) => fixed(verifyBodies([f.derivedJwt], "grpc")),
      preflight: expectVerify((f) => f.derivedJwt, true, VerifyReason.VALID),
    },
    {
      id: "verify-connect-json",
      label: "verify, Connect JSON",
      title: "VerifyKey, cache hit, Connect JSON on the HTTP listener (HTTP/1.1)",
      target: "sigil-main",
      protocol: "connect-json",
      method: "VerifyKey",
      limitId: "limit-connect-verify",
      requests: (f) => fixed(verifyBodies(f.validKeys, "connect-json")),
      preflight: expectConnectJsonValid,
    },
    // The gateways' forward auth (nginx auth_request) beside Connect JSON VerifyKey, both HTTP/1.1
    // keep-alive on the HTTP listener, against the same limit (bare connect-node).
    {
      id: "gateway-forward-auth",
      label: "/v1/authorize, cache hit",
      title: "forward auth GET /v1/authorize, valid key, cache hit (HTTP/1.1)",
      target: "sigil-main",
      protocol: "forward-auth",
      method: "Authorize",
      limitId: "limit-connect-verify",
      requests: (f) => fixed(f.validKeys.map((k) => new TextEncoder().encode(k))),
      preflight: expectAuthorized,
    },
    {
      id: "verify-cache-miss",
      label: `verify, cache miss, ${short(config.mainKeyCount)} keys`,
      title: `VerifyKey, cache miss, random key of ${keys(config.mainKeyCount)} stored`,
      target: "sigil-main",
      protocol: "grpc",
      method: "VerifyKey",
      limitId: "limit-grpc-verify",
      openLoop: true,
      requests: (f) => randomStoredKey(f, 0x5eed),
      preflight: expectVerify((f) => f.storedKeys && keyAt(f.storedKeys, 0), true, VerifyReason.VALID),
    },
    {
      id: "issue-key",
      label: "IssueKey",
      title: "IssueKey",
      target: "sigil-main",
      protocol: "grpc",
      method: "IssueKey",
      limitId: "limit-grpc-issue",
      requests: () => fixed(issueBodies(64, "grpc")),
      headers: (f) => bearer(f.adminKey),
      preflight: async (sigil, f) => {
        const issued = await sigil.rpc.issueKey(f.adminKey, { name: "bench preflight", owner: "svc:bench", scopes: ["read"] });
        return issued.secret.length > 0 ? undefined : "IssueKey returned no secret";
      },
    },
    {
      id: "derive-jwt",
      label: "DeriveToken (JWT)",
      title: "DeriveToken (JWT)",
      target: "sigil-main",
      protocol: "grpc",
      method: "DeriveToken",
      limitId: "limit-grpc-derive",
      requests: (f) => fixed(deriveBodies(f.validKeys[0]!, "grpc")),
      preflight: async (sigil, f) => {
        const derived = await sigil.rpc.deriveToken(deriveJwtRequest(f.validKeys[0]!));
        return derived.token.length > 0 ? undefined : "DeriveToken returned no token";
      },
    },
    // Key-count comparison: the same random draws with the cache out of the way.
    ...[
      { target: "sigil-small-uncached" as const, count: config.scalingKeyCount, suffix: "small" },
      { target: "sigil-main-uncached" as const, count: config.mainKeyCount, suffix: "large" },
    ].map(({ target, count, suffix }): Scenario => ({
      id: `verify-uncached-${suffix}`,
      label: `verify, no cache, ${short(count)} keys`,
      title: `VerifyKey, random key of ${keys(count)} stored, cache size ${UNCACHED_CACHE_SIZE} (every call reads the database)`,
      target,
      protocol: "grpc",
      method: "VerifyKey",
      limitId: "limit-grpc-verify",
      requests: (f) => randomStoredKey(f, 0x5eed),
      preflight: expectVerify((f) => f.storedKeys && keyAt(f.storedKeys, 0), true, VerifyReason.VALID),
    })),
    // Issue #13: the same VerifyKey scenarios on a database of many tenants, beside the single-tenant ones above.
    ...tenantScenarios(config, short),
  ];
  return [...core, ...comparisonScenarios(core)];
}

/**
 * VerifyKey with TENANT_COUNT tenants of mainKeyCount / TENANT_COUNT keys each: a cache hit (the
 * first 16 seeded keys, one per tenant, as verify-cache-hit cycles 16 keys of `default`), a cache
 * miss (random seeded key, as verify-cache-miss) and every call reading the database (as
 * verify-uncached-large). Same request shapes, so each figure compares with its single-tenant twin.
 */
function tenantScenarios(config: BenchConfig, short: (n: number) => string): Scenario[] {
  const per = `${short(TENANT_COUNT)} tenants × ${short(config.mainKeyCount / TENANT_COUNT)} keys`;
  const hotKeys = (f: Fixtures): string[] => (f.storedKeys ? Array.from({ length: Math.min(16, f.storedKeys.lineCount) }, (_, i) => keyAt(f.storedKeys!, i)) : []);
  const firstStored = (f: Fixtures) => f.storedKeys && keyAt(f.storedKeys, 0);
  return [
    {
      id: "verify-cache-hit-tenants",
      label: `verify, cache hit, ${per}`,
      title: `VerifyKey, valid key, cache hit, ${per} (16 keys of 16 tenants)`,
      target: "sigil-tenants",
      protocol: "grpc",
      method: "VerifyKey",
      limitId: "limit-grpc-verify",
      requests: (f) => (f.storedKeys ? fixed(verifyBodies(hotKeys(f), "grpc")) : undefined),
      preflight: expectVerify(firstStored, true, VerifyReason.VALID),
    },
    {
      id: "verify-cache-miss-tenants",
      label: `verify, cache miss, ${per}`,
      title: `VerifyKey, cache miss, random key of ${per}`,
      target: "sigil-tenants",
      protocol: "grpc",
      method: "VerifyKey",
      limitId: "limit-grpc-verify",
      requests: (f) => randomStoredKey(f, 0x5eed),
      preflight: expectVerify(firstStored, true, VerifyReason.VALID),
    },
    {
      id: "verify-uncached-tenants",
      label: `verify, no cache, ${per}`,
      title: `VerifyKey, random key of ${per}, cache size ${UNCACHED_CACHE_SIZE} (every call reads the database)`,
      target: "sigil-tenants-uncached",
      protocol: "grpc",
      method: "VerifyKey",
      limitId: "limit-grpc-verify",
      requests: (f) => randomStoredKey(f, 0x5eed),
      preflight: expectVerify(firstStored, true, VerifyReason.VALID),
    },
  ];
}
