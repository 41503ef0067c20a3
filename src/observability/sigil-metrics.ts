import { collectDefaultMetrics, Gauge, type Registry } from "prom-client";
import type { KeyCacheObserver } from "../cache/key-directory.js";
import type { FeedUpdate } from "../cache/change-feed-follower.js";
import type { Verification } from "../service/credential-verifier.js";
import type { VerificationObserver } from "../service/verification-outcomes.js";
import { CHANGE_ACTIONS, SIGNING_KEY_CHANGE_ACTIONS, TENANT_CHANGE_ACTIONS } from "../store/tables/change-feed-table.js";
import { CredentialKind, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { DatabaseMetrics } from "./database-metrics.js";
import { CounterFamily, HistogramFamily, type CounterCell, type HistogramCell } from "./metric-cells.js";
import { DROPPED_DEFAULT_METRICS, FEED_LAG_BUCKETS, ISSUE_BATCH_BUCKETS, METRIC } from "./metric-names.js";
import { RpcMetrics } from "./rpc-metrics.js";
import { TenantLabels } from "./tenant-label.js";

/** What the gauges read when scraped (nothing is computed between scrapes). */
export interface GaugeSources {
  readonly keyCacheEntries: () => number;
  readonly keyCacheBytes: () => number;
  readonly feedLastAppliedSeq: () => number;
  readonly databaseUp: () => boolean;
  readonly watchStreamsOpen: () => number;
  readonly signingKeysPublished: () => number;
}

/** The `action` label values of sigil_feed_changes_applied_total (besides "other"). */
const FEED_ACTIONS: readonly string[] = [...CHANGE_ACTIONS, ...SIGNING_KEY_CHANGE_ACTIONS, ...TENANT_CHANGE_ACTIONS];

/** Bounded label value of an enum member: its name in lower case, or "unknown". */
function enumLabel(e: Record<number, string>, value: number): string {
  return (e[value] ?? "unknown").toLowerCase();
}

/**
 * Sigil's metrics on one prom-client Registry (injected: the process's own, or with workers the
 * one its worker serves to the supervisor's aggregator). Services report through the small
 * interfaces they declare (VerificationObserver, KeyCacheObserver, ...), which this implements
 * with pre-made cells; nothing here is a module-level registry. Built only when metrics are on.
 */
export class SigilMetrics {
  readonly registry: Registry;
  readonly rpc: RpcMetrics;
  readonly database: DatabaseMetrics;
  readonly verification: VerificationObserver;
  readonly keyCache: KeyCacheObserver;
  /** For KeyIssueWriter's `onBatch`. */
  readonly issueBatch: (size: number) => void;
  readonly #feedLag: HistogramCell;
  readonly #feedApplied: CounterFamily;
  readonly #feedResets: CounterCell;
  readonly #revocationsApplied: CounterCell;

  /** `tenantLabel`: SIGIL_METRICS_TENANT_LABEL, the most tenants named by sigil_verifications_total's `tenant` label; 0 or unset: no such label. */
  constructor(registry: Registry, options: { version: string; tenantLabel?: number }) {
    this.registry = registry;
    collectDefaultMetrics({ register: registry });
    for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(name);
    new Gauge({ name: METRIC.buildInfo, help: "Always 1; the version label says which Sigil runs.", labelNames: ["version"], registers: [registry], aggregator: "first" }).set({ version: options.version }, 1);
    this.rpc = new RpcMetrics(registry);
    this.database = new DatabaseMetrics(registry);
    this.verification = this.#verificationMetrics(registry, options.tenantLabel ? new TenantLabels(options.tenantLabel) : undefined);
    this.keyCache = this.#keyCacheMetrics(registry);
    const batches = new HistogramFamily(registry, { name: METRIC.issueBatchSize, help: "Keys written per IssueKey group-commit transaction.", labelNames: [], buckets: ISSUE_BATCH_BUCKETS }).cell();
    this.issueBatch = (size) => batches.observe(size);
    this.#feedLag = new HistogramFamily(registry, {
      name: METRIC.feedLagSeconds,
      help: "Seconds from a change-feed row's time (its mutation's) to this process applying it to its caches.",
      labelNames: [],
      buckets: FEED_LAG_BUCKETS,
    }).cell();
    this.#feedApplied = new CounterFamily(registry, { name: METRIC.feedChangesApplied, help: "Change-feed rows applied by this process, by action.", labelNames: ["action"] });
    this.#feedResets = new CounterFamily(registry, {
      name: METRIC.feedResets,
      help: "Times this process fell behind the feed's retention and dropped its whole key cache.",
      labelNames: [],
    }).cell();
    this.#revocationsApplied = new CounterFamily(registry, {
      name: METRIC.revocationsApplied,
      help: "Key revocations this process applied from the change feed (its own included).",
      labelNames: [],
    }).cell();
  }

  #verificationMetrics(registry: Registry, tenants: TenantLabels | undefined): VerificationObserver {
    const verifications = new CounterFamily(registry, {
      name: METRIC.verifications,
      help: tenants ? "VerifyKey and BatchVerifyKeys verifications, by credential kind, answer and the key's tenant." : "VerifyKey and BatchVerifyKeys verifications, by credential kind and answer.",
      labelNames: tenants ? ["kind", "reason", "tenant"] : ["kind", "reason"],
    });
    const rateLimited = new CounterFamily(registry, { name: METRIC.rateLimited, help: "Verifications answered RATE_LIMITED (the key's rate limit).", labelNames: [] }).cell();
    const exhausted = new CounterFamily(registry, { name: METRIC.creditsExhausted, help: "Verifications answered USAGE_EXHAUSTED (the key's credits).", labelNames: [] }).cell();
    const jwt = new CounterFamily(registry, { name: METRIC.jwtCacheLookups, help: "Derived-JWT verifications by whether the verified-token cache held the token.", labelNames: ["result"] });
    const [jwtHit, jwtMiss] = [jwt.cell("hit"), jwt.cell("miss")];
    // [kind][reason], made on first use: both enums are closed sets.
    const cells: CounterCell[][] = [];
    // With the tenant label, [tenant label][kind][reason]: the labels are bounded by TenantLabels.
    const byTenant = new Map<string, CounterCell[][]>();
    const cellOf = (v: Verification): CounterCell => {
      if (!tenants) {
        const byReason = (cells[v.kind] ??= []);
        return (byReason[v.reason] ??= verifications.cell(enumLabel(CredentialKind, v.kind), enumLabel(VerifyReason, v.reason)));
      }
      const tenant = tenants.of(v.tenantId);
      let ofTenant = byTenant.get(tenant);
      if (!ofTenant) byTenant.set(tenant, (ofTenant = []));
      const byReason = (ofTenant[v.kind] ??= []);
      return (byReason[v.reason] ??= verifications.cell(enumLabel(CredentialKind, v.kind), enumLabel(VerifyReason, v.reason), tenant));
    };
    return {
      verified(v: Verification) {
        cellOf(v).value++;
        if (v.reason === VerifyReason.RATE_LIMITED) rateLimited.value++;
        else if (v.reason === VerifyReason.USAGE_EXHAUSTED) exhausted.value++;
      },
      jwtCacheLookup(hit: boolean) {
        (hit ? jwtHit : jwtMiss).value++;
      },
    };
  }

  #keyCacheMetrics(registry: Registry): KeyCacheObserver {
    const lookups = new CounterFamily(registry, {
      name: METRIC.keyCacheLookups,
      help: "Key-record lookups: hit (cached), unknown_hit (cached as no such key), miss (read from the database).",
      labelNames: ["result"],
    });
    const [hit, unknown, miss] = [lookups.cell("hit"), lookups.cell("unknown_hit"), lookups.cell("miss")];
    const evictions = new CounterFamily(registry, { name: METRIC.keyCacheEvictions, help: "Key records pushed out of the cache by its bounds (SIGIL_CACHE_SIZE, SIGIL_CACHE_MEMORY).", labelNames: [] }).cell();
    return {
      hit: () => void hit.value++,
      unknownHit: () => void unknown.value++,
      miss: () => void miss.value++,
      evicted: () => void evictions.value++,
    };
  }

  /** Hears each batch the change-feed follower applied (subscribe with `follower.onChanges`). */
  feedApplied(update: FeedUpdate, nowMs: number): void {
    if (update.reset) this.#feedResets.value++;
    for (const change of update.changes) {
      this.#feedLag.observe(Math.max(0, nowMs - change.time) / 1000);
      const action = FEED_ACTIONS.includes(change.action) ? change.action : "other";
      this.#feedApplied.cell(action).value++;
      if (change.action === "revoke") this.#revocationsApplied.value++;
    }
  }

  /** The gauges, read at each scrape. Gauges that must not be summed over workers say how they combine. */
  watch(sources: GaugeSources): void {
    const registers = [this.registry];
    new Gauge({ name: METRIC.keyCacheEntries, help: "Key records cached (summed over workers: each has its own cache).", registers, collect() { this.set(sources.keyCacheEntries()); } });
    new Gauge({
      name: METRIC.keyCacheBytes,
      help: "Estimated memory of the cached key records, bounded by SIGIL_CACHE_MEMORY (summed over workers).",
      registers,
      collect() { this.set(sources.keyCacheBytes()); },
    });
    new Gauge({
      name: METRIC.feedLastAppliedSeq,
      help: "Sequence number of the last change-feed row applied (with workers: the lowest of them, the one furthest behind).",
      registers,
      aggregator: "min",
      collect() { this.set(sources.feedLastAppliedSeq()); },
    });
    new Gauge({
      name: METRIC.databaseUp,
      help: "1 while the database answers, 0 while it is out of reach (with workers: 0 if any worker cannot reach it).",
      registers,
      aggregator: "min",
      collect() { this.set(sources.databaseUp() ? 1 : 0); },
    });
    new Gauge({ name: METRIC.watchStreamsOpen, help: "WatchRevocations streams open (summed over workers).", registers, collect() { this.set(sources.watchStreamsOpen()); } });
    new Gauge({
      name: METRIC.signingKeysPublished,
      help: "JWT signing keys in the JWKS (active and retired; with workers: the most any worker publishes).",
      registers,
      aggregator: "max",
      collect() { this.set(sources.signingKeysPublished()); },
    });
  }
}
