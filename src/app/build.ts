import type { DestinationStream, Logger } from "pino";
import { HealthImplementation } from "grpc-health-check";
import { ChangeFeedFollower } from "../cache/change-feed-follower.js";
import { ImportedKeyIndex } from "../cache/imported-key-index.js";
import { KeyDirectory } from "../cache/key-directory.js";
import { formatByteSize } from "../config/byte-size.js";
import { SETTINGS, type Config } from "../config/config.js";
import { currentHeapLimitMb } from "../config/memory-limit.js";
import { SIGIL_VERSION } from "./version.js";
import { ImportedKeyHasher } from "../keys/imported-key-hasher.js";
import { KeyHasher } from "../keys/key-hasher.js";
import { Sealer } from "../keys/sealer.js";
import { createLogger } from "../log/logger.js";
import { Observability, type MetricsExport } from "../observability/observability.js";
import { ActorRecheck } from "../service/actor-recheck.js";
import { AdminAuthorizer } from "../service/admin-auth.js";
import { AuditService } from "../service/audit-service.js";
import { BatchVerifyService } from "../service/batch-verify-service.js";
import { CredentialVerifier } from "../service/credential-verifier.js";
import { ImportService } from "../service/import-service.js";
import { KeyLifecycleService } from "../service/key-lifecycle-service.js";
import { KeyService } from "../service/key-service.js";
import { KeyIssueWriter } from "../store/key-issue-writer.js";
import { RevocationFeedService } from "../service/revocation-feed-service.js";
import { VerifierAuthorizer } from "../service/verifier-auth.js";
import { VerifyFailureThrottle } from "../service/verify-failure-throttle.js";
import { updateLookupHash } from "../store/key-lifecycle-repository.js";
import { updateSecretHash } from "../store/key-repository.js";
import { migrateToLatest } from "../store/migrations.js";
import { openDatabase } from "../store/open-database.js";
import { PostgresFeedListener } from "../store/postgres-feed-listener.js";
import { SigningKeys } from "../tokens/signing-keys.js";
import { SigningKeyRotator } from "../tokens/signing-key-rotation.js";
import { SigningKeyRotationSchedule } from "../tokens/signing-key-schedule.js";
import { SigningKeyService } from "../service/signing-key-service.js";
import { SelfRevocationGuard } from "../service/self-revocation-guard.js";
import { ServiceSurface } from "../transport/surface.js";
import { createGateway } from "../gateway/gateway.js";
import { MacaroonRootKeys } from "../tokens/macaroon-root-keys.js";
import { CreditLedger } from "../usage/credits.js";
import { LastUseRecorder } from "../usage/last-use-recorder.js";
import { lastUseWriter } from "../store/last-use-repository.js";
import { RateLimiter } from "../usage/rate-limiter.js";
import { UsageCounter } from "../usage/usage-counter.js";
import { UsageService } from "../service/usage-service.js";
import { findLiveTenant, findTenantRow } from "../store/tenant-repository.js";
import { TenantService } from "../tenants/tenant-service.js";
import { TenantPolicies } from "../tenants/tenant-policies.js";
import { DerivedTokenTermsReader } from "../tenants/derived-token-terms.js";
import { TenantIssuers, tenantIssuerReader } from "../tenants/tenant-issuers.js";
import { TenantNetworkBoundaries } from "../tenants/tenant-network-boundaries.js";
import { parseStoredPolicy } from "../tenants/tenant-policy.js";
import { tenantPolicyJson } from "../store/tenant-repository.js";
import { bindGrpcServer, createGrpcServer, shutdownGrpcServer } from "../transport/grpc-server.js";
import { routeGrpcJsLogs } from "../transport/grpc-js-logs.js";
import { createHttpServer } from "../transport/http-server.js";
import { loadReflectionFiles } from "../transport/reflection-files.js";
import { openTransportSecurity } from "../transport/transport-security.js";
import { bindServiceHandlers } from "../transport/service-methods.js";
import { KeyService as KeyServiceDesc } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { bootstrapAdminKey } from "./bootstrap-admin.js";
import { BootstrapAdminReminder } from "./bootstrap-admin-reminder.js";
import { RetentionPruner } from "./retention-pruner.js";
import { DatabaseHealth, pingDatabase } from "./database-health.js";
import { loadServerSecrets, prepareDataDir, prepareSqliteFiles } from "./data-dir.js";
import { waitForDatabase } from "./database-wait.js";
import { listenError } from "./listen-error.js";
import { wrongServerSecret } from "./startup-error.js";

export interface BuildOptions {
  /** Where log lines go (tests capture them); default: stdout. */
  readonly logDestination?: DestinationStream;
  /** Clock in ms; tests move time forward. */
  readonly now?: () => number;
  /** Aborted when the process is told to stop during start-up: waiting for the database ends. */
  readonly startSignal?: AbortSignal;
  /** A worker of `serve --workers N` hands its metrics to the supervisor instead of listening (default: "listener"). */
  readonly metricsExport?: MetricsExport;
  /** Most keys one forced DeleteTenant revokes (default 10,000; tests lower it). */
  readonly maxForcedTenantRevocations?: number;
}

/** A running Sigil: both listeners bound, storage open. */
export interface SigilApp {
  readonly grpcPort: number;
  readonly httpPort: number;
  /** The /metrics listener's port; undefined when metrics are off or sent to a supervisor. */
  readonly metricsPort: number | undefined;
  readonly service: KeyService;
  /** Follows the change feed for this process; subscribe with `onChanges` to hear of mutations. */
  readonly changeFeed: ChangeFeedFollower;
  readonly log: Logger;
  /** Path of the first admin key file when this start created it. */
  readonly adminKeyFile: string | undefined;
  /** Re-reads the TLS files now (SIGHUP); "off" without TLS. */
  reloadTls(): "reloaded" | "unchanged" | "failed" | "off";
  /** Graceful stop: refuse new calls, finish in-flight ones, close the database. */
  close(): Promise<void>;
}

const HEALTH_SERVICES = ["", KeyServiceDesc.typeName];
/** How often the database is probed for the health endpoints (and to notice it is back). */
const DATABASE_PROBE_INTERVAL_MS = 1000;

/** Wires every part of Sigil from a Config and starts it. `main` only parses config and signals. */
export async function build(config: Config, options: BuildOptions = {}): Promise<SigilApp> {
  const log = createLogger(config.logLevel, options.logDestination);
  const now = options.now ?? Date.now;
  routeGrpcJsLogs(log);
  // TLS material and listener bounds first: a wrong TLS file stops start-up, naming its setting,
  // before anything is written.
  const security = openTransportSecurity(config, log);
  const { limits, tls } = security;
  prepareDataDir(config.dataDir);
  prepareSqliteFiles(config.databaseUrl, config.dataDir);
  const secrets = loadServerSecrets(config.serverSecret, config.dataDir);
  const observability = new Observability(config, { log, version: SIGIL_VERSION, metricsExport: options.metricsExport ?? "listener" });
  const metrics = observability.metrics;
  // Until the database first answered, a failure is start-up's to retry, not a health change.
  let waitingForDatabase = true;
  // Health hears of a lost database from the first failing call; its probe notices the recovery.
  const dbHealth = new DatabaseHealth(() => pingDatabase(db), { intervalMs: DATABASE_PROBE_INTERVAL_MS, log });
  const { db, dialect } = openDatabase(config.databaseUrl, {
    poolSize: config.databasePoolSize,
    busyTimeoutMs: config.sqliteBusyTimeoutMs,
    wrapDialect: observability.wrapDialect,
    onUnavailable: (reason) => {
      if (!waitingForDatabase) dbHealth.reportUnavailable(reason);
    },
  });
  // Timers and the LISTEN connection, stopped before the database closes (also when start-up fails).
  const background: Array<{ stop(): Promise<void> }> = tls ? [tls] : [];
  background.push({ stop: () => observability.close() });
  try {
    await waitForDatabase(() => pingDatabase(db), { timeoutMs: config.databaseStartTimeoutMs, log, signal: options.startSignal });
    waitingForDatabase = false;
    const applied = await migrateToLatest(db, dialect);
    if (applied.length > 0) log.info({ migrations: applied, dialect }, "database migrated");

    const hasher = new KeyHasher(secrets);
    const directory = new KeyDirectory({ db, dialect }, { capacity: config.cacheSize, maxBytes: config.cacheMemoryBytes, observer: metrics?.keyCache });
    const signingKeySealer = new Sealer(secrets, "jwt signing key");
    const signingKeys = new SigningKeys(db, signingKeySealer, { maxTokenTtlMs: config.tokenMaxTtlMs, now, log });
    const signingKeyRotator = new SigningKeyRotator(db, signingKeySealer, signingKeys, { now });
    // A database restored without its server secret fails here: say so, not "unable to authenticate data".
    await signingKeyRotator.ensureActive().catch((err) => {
      throw wrongServerSecret(err);
    });
    const signingKeySchedule = new SigningKeyRotationSchedule(signingKeys, signingKeyRotator, { rotationMs: config.signingKeyRotationMs, now, log });
    const macaroonRootKeys = new MacaroonRootKeys(secrets);
    const importedHasher = new ImportedKeyHasher(secrets);
    const importedKeys = new ImportedKeyIndex(db, importedHasher, { capacity: config.cacheSize });
    const lastUse = new LastUseRecorder(lastUseWriter(db, dialect), { intervalMs: config.lastUseFlushIntervalMs, log });
    // Usage analytics: verifications per key, minute and outcome, flushed on the last-use interval.
    const usageCounter = config.usageAnalytics ? new UsageCounter(db, { intervalMs: config.lastUseFlushIntervalMs, log }) : undefined;
    // The issuer each tenant's derived JWTs must carry (server-side verification).
    const tenantIssuers = new TenantIssuers(tenantIssuerReader(db, config.issuer));
    // Tenant network boundaries, cached here and dropped when the feed says a policy changed.
    const boundaries = new TenantNetworkBoundaries(async (tenantId) => parseStoredPolicy(await tenantPolicyJson(db, tenantId)), { capacity: config.cacheSize });
    const verifier = new CredentialVerifier({
      networkBoundaries: boundaries,
      directory,
      hasher,
      signingKeys,
      macaroonRootKeys,
      keyPrefix: config.keyPrefix,
      tenantIssuers,
      // Rows hashed under a retired server secret are re-hashed on their next successful use.
      onStaleHash: (record, secret) => {
        const hash = hasher.hash(record.keyId, secret);
        updateSecretHash(db, record.keyId, record.hashVersion, hash.toString("base64"), hasher.currentVersion)
          .then(() => directory.invalidate(record.keyId))
          .catch((err: Error) => log.warn({ keyId: record.keyId, err: { message: err.message } }, "re-hash failed"));
      },
      // Usage controls: rate limits in this process's memory, credits in the database (exact).
      usage: { rateLimiter: new RateLimiter({ capacity: config.cacheSize }), credits: new CreditLedger(db) },
      lastUse,
      outcomes: usageCounter,
      observer: metrics?.verification,
      // Failed guesses of imported strings, per client: VerifyKey, BatchVerifyKeys and DeriveToken.
      failureThrottle: new VerifyFailureThrottle({
        burst: config.verifyFailureBurst,
        refillMs: config.verifyFailureRefillMs,
        maxClients: config.verifyThrottleClients,
      }),
      importedKeys: {
        index: importedKeys,
        hasher: importedHasher,
        onStaleHash: (record, sha256) => {
          const hash = importedHasher.lookupHash(sha256).toString("base64");
          updateLookupHash(db, record.keyId, record.hashVersion, hash, importedHasher.currentVersion)
            .then(() => directory.invalidate(record.keyId))
            .catch((err: Error) => log.warn({ keyId: record.keyId, err: { message: err.message } }, "re-hash failed"));
        },
      },
    });
    const admin = new AdminAuthorizer(verifier, now, config.keyPrefix, async (tenantId, deletedToo) => (await (deletedToo ? findTenantRow : findLiveTenant)(db, tenantId)) !== undefined);
    // Mutations authorize their writes again inside their own transactions.
    const recheck = new ActorRecheck({ verifier, dialect, now });
    const policies = new TenantPolicies();
    const service = new KeyService({
      db,
      issueWriter: new KeyIssueWriter(db, {
        checkActors: (tx, actors) => recheck.refusals(tx, actors),
        // Tenant policies, in the writing transaction.
        checkWrites: (tx, writes) => policies.newKeyRefusals(tx, writes, (w) => w.key, dialect === "postgres"),
        onBatch: metrics?.issueBatch,
      }),
      directory,
      verifier,
      admin,
      recheck,
      hasher,
      issueSealer: new Sealer(secrets, "issue request"),
      signingKeys,
      macaroonRootKeys,
      tokenTerms: new DerivedTokenTermsReader(db, { issuer: config.issuer, tokenDefaultTtlMs: config.tokenDefaultTtlMs, tokenMaxTtlMs: config.tokenMaxTtlMs }),
      now,
      lastUse,
      settings: { keyPrefix: config.keyPrefix },
    });
    const follower = new ChangeFeedFollower(db, directory, {
      intervalMs: config.feedPollIntervalMs,
      log,
      // PostgreSQL wakes the follower at each commit; polling remains the fallback.
      wakeSource: dialect === "postgres" ? new PostgresFeedListener(config.databaseUrl, log) : undefined,
    });
    background.push(follower);
    // Rotations by any process reach this one's signing keys through the feed.
    follower.onChanges((update) => signingKeys.applyFeed(update));
    follower.onChanges((update) => boundaries.applyFeed(update));
    follower.onChanges((update) => tenantIssuers.applyFeed(update));
    if (metrics) follower.onChanges((update) => metrics.feedApplied(update, now()));
    await follower.start();
    // A rotation committed between loading the keys and the follower's starting point is read here.
    await signingKeys.refresh();
    background.push(signingKeySchedule);
    await signingKeySchedule.start();
    // WatchRevocations streams wake on the follower's polls instead of polling on their own.
    const revocationFeed = new RevocationFeedService({
      db,
      feed: follower,
      auth: new VerifierAuthorizer(verifier, now, config.keyPrefix),
      now,
      maxStreamsPerKey: config.watchStreamsPerKey,
    });
    const pruner = new RetentionPruner(db, { retentionMs: config.feedRetentionMs, usageRetentionMs: config.usageRetentionMs, now, log });
    background.push(pruner, dbHealth);
    pruner.start();
    dbHealth.start();

    lastUse.start();
    background.push(lastUse);
    if (usageCounter) {
      usageCounter.start();
      background.push(usageCounter);
    }
    const lifecycle = new KeyLifecycleService({ db, directory, admin, recheck, policies, hasher, lastUse, now, keyPrefix: config.keyPrefix });
    const imports = new ImportService({ db, dialect, directory, importedKeys, hasher: importedHasher, admin, recheck, policies, now, keyPrefix: config.keyPrefix });
    const surface = new ServiceSurface(config.mode);
    const signingKeyAdmin = new SigningKeyService({ db, keys: signingKeys, rotator: signingKeyRotator, admin, recheck, now });
    // On a verify instance RevokeKey is self-revocation only; the guard comes first, so it answers it.
    const guards = surface.mode === "verify" ? [new SelfRevocationGuard(service, verifier, now)] : [];
    const impls = [...guards, service, revocationFeed, lifecycle, new BatchVerifyService(verifier, now), imports, new AuditService(db, admin), signingKeyAdmin, new UsageService({ db, admin, now }), new TenantService({ db, dialect, admin, recheck, directory, boundaries, now, settings: { issuer: config.issuer, tokenMaxTtlMs: config.tokenMaxTtlMs }, issuers: tenantIssuers, maxForcedRevocations: options.maxForcedTenantRevocations })];
    const services = surface.services([{ service: KeyServiceDesc, handlers: bindServiceHandlers(KeyServiceDesc, impls) }]);
    // Gateways (nginx auth_request, Traefik forwardAuth, Envoy ext_authz): VerifyKey's decision on the original request's headers.
    const gateway = createGateway({ verifier, now, authHeader: config.authHeader, trustedProxies: config.trustedProxies, verifyFailureRefillMs: config.verifyFailureRefillMs });
    const health = new HealthImplementation(Object.fromEntries(HEALTH_SERVICES.map((s) => [s, "SERVING" as const])));
    let closing: Promise<void> | undefined;
    dbHealth.onChange((serving) => {
      if (closing) return;
      for (const s of HEALTH_SERVICES) health.setStatus(s, serving ? "SERVING" : "NOT_SERVING");
    });
    metrics?.watch({
      keyCacheEntries: () => directory.cachedCount,
      keyCacheBytes: () => directory.cachedBytes,
      feedLastAppliedSeq: () => follower.lastSeq,
      databaseUp: () => dbHealth.serving,
      watchStreamsOpen: () => revocationFeed.openStreams,
      signingKeysPublished: () => signingKeys.jwks().length,
    });
    const calls = observability.calls;
    const grpcServer = createGrpcServer({ services: [...services, ...surface.services([gateway.envoy])], calls, health, reflectionFiles: surface.reflectionFiles(loadReflectionFiles()), log, maxMessageBytes: config.maxMessageBytes, limits, tls });
    const http = createHttpServer({
      services,
      jwks: () => ({ keys: signingKeys.jwks() }),
      isServing: () => dbHealth.serving && !closing,
      log,
      calls,
      maxMessageBytes: config.maxMessageBytes,
      corsOrigins: config.corsOrigins,
      version: SIGIL_VERSION,
      limits,
      tls,
      routes: [gateway.forwardAuth],
    });
    const grpcPort = await bindGrpcServer(grpcServer, config.grpcAddress).catch((err) => {
      grpcServer.forceClose();
      throw listenError(SETTINGS.grpcAddress, config.grpcAddress, err);
    });
    const httpPort = await http.listen(config.httpAddress).catch(async (err) => {
      grpcServer.forceClose();
      throw listenError(SETTINGS.httpAddress, config.httpAddress, err);
    });
    const metricsPort = await observability.listen(config).catch(async (err) => {
      grpcServer.forceClose();
      await http.close(0);
      throw listenError(SETTINGS.metricsAddress, config.metricsAddress!, err);
    });
    // Last, once both ports are held: a start that fails leaves no admin key (neither file nor row).
    // A verify instance sits beside resource services: the first admin key is never written there
    // (nor is its file named in reminders).
    const adminKeyFile =
      config.mode === "verify"
        ? undefined
        : await bootstrapAdminKey(db, service, config.dataDir, log).catch(async (err) => {
            grpcServer.forceClose();
            await http.close(0);
            throw err;
          });
    if (config.mode !== "verify") {
      const bootstrapReminder = new BootstrapAdminReminder(db, { dataDir: config.dataDir, now, log });
      background.push(bootstrapReminder);
      await bootstrapReminder.start();
    }
    tls?.start();
    log.info(
      {
        grpc: `${config.grpcAddress.host}:${grpcPort}`,
        http: `${config.httpAddress.host}:${httpPort}`,
        ...(metricsPort === undefined ? {} : { metrics: `${config.metricsAddress!.host}:${metricsPort}` }),
        tracing: config.tracing ? "otlp" : "off",
        dialect,
        mode: config.mode,
        tls: tls ? (tls.current.requireClientCert ? "mtls" : "tls") : "off",
        version: SIGIL_VERSION,
        node: process.version,
        heapLimitMb: currentHeapLimitMb(),
        cacheMemory: formatByteSize(config.cacheMemoryBytes),
      },
      "sigil is listening",
    );

    return {
      grpcPort,
      httpPort,
      metricsPort,
      service,
      changeFeed: follower,
      log,
      adminKeyFile,
      reloadTls: () => security.tls?.reload() ?? "off",
      close() {
        closing ??= (async () => {
          for (const s of HEALTH_SERVICES) health.setStatus(s, "NOT_SERVING");
          // Watch streams never finish by themselves: end them, or shutdown waits out the grace period.
          revocationFeed.close();
          await Promise.all([shutdownGrpcServer(grpcServer, config.shutdownGraceMs), http.close(config.shutdownGraceMs)]);
          await Promise.all(background.map((b) => b.stop()));
          await db.destroy();
          log.info("sigil stopped");
          log.flush();
        })();
        return closing;
      },
    };
  } catch (err) {
    await Promise.all(background.map((b) => b.stop()));
    await db.destroy();
    throw err;
  }
}
