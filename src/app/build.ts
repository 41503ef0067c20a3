import type { DestinationStream, Logger } from "pino";
import { HealthImplementation } from "grpc-health-check";
import { ChangeFeedFollower } from "../cache/change-feed-follower.js";
import { KeyDirectory } from "../cache/key-directory.js";
import type { Config } from "../config/config.js";
import { KeyHasher } from "../keys/key-hasher.js";
import { Sealer } from "../keys/sealer.js";
import { createLogger } from "../log/logger.js";
import { AdminAuthorizer } from "../service/admin-auth.js";
import { CredentialVerifier } from "../service/credential-verifier.js";
import { KeyService } from "../service/key-service.js";
import { updateSecretHash } from "../store/key-repository.js";
import { migrateToLatest } from "../store/migrations.js";
import { openDatabase } from "../store/open-database.js";
import { SigningKeys } from "../tokens/signing-keys.js";
import { MacaroonRootKeys } from "../tokens/macaroon-root-keys.js";
import { bindGrpcServer, createGrpcServer, shutdownGrpcServer } from "../transport/grpc-server.js";
import { createHttpServer } from "../transport/http-server.js";
import { loadReflectionFiles } from "../transport/reflection-files.js";
import { bindServiceHandlers } from "../transport/service-methods.js";
import { KeyService as KeyServiceDesc } from "../../gen/sigil/v1/key_service_pb.js";
import { bootstrapAdminKey } from "./bootstrap-admin.js";
import { ensureDataDir, loadServerSecrets } from "./data-dir.js";

export interface BuildOptions {
  /** Where log lines go (tests capture them); default: stdout. */
  readonly logDestination?: DestinationStream;
  /** Clock in ms; tests move time forward. */
  readonly now?: () => number;
}

/** A running Sigil: both listeners bound, storage open. */
export interface SigilApp {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly service: KeyService;
  readonly log: Logger;
  /** Path of the first admin key file when this start created it. */
  readonly adminKeyFile: string | undefined;
  /** Graceful stop: refuse new calls, finish in-flight ones, close the database. */
  close(): Promise<void>;
}

const HEALTH_SERVICES = ["", KeyServiceDesc.typeName];

/** Wires every part of Sigil from a Config and starts it. `main` only parses config and signals. */
export async function build(config: Config, options: BuildOptions = {}): Promise<SigilApp> {
  const log = createLogger(config.logLevel, options.logDestination);
  const now = options.now ?? Date.now;
  ensureDataDir(config.dataDir);
  const secrets = loadServerSecrets(config.serverSecret, config.dataDir);
  const { db, dialect } = openDatabase(config.databaseUrl);
  try {
    const applied = await migrateToLatest(db, dialect);
    if (applied.length > 0) log.info({ migrations: applied, dialect }, "database migrated");

    const hasher = new KeyHasher(secrets);
    const directory = new KeyDirectory(db, { capacity: config.cacheSize });
    const signingKeys = new SigningKeys(db, new Sealer(secrets, "jwt signing key"), {
      rotationMs: config.signingKeyRotationMs,
      maxTokenTtlMs: config.tokenMaxTtlMs,
    });
    await signingKeys.init(now());
    const macaroonRootKeys = new MacaroonRootKeys(secrets);
    const verifier = new CredentialVerifier({
      directory,
      hasher,
      signingKeys,
      macaroonRootKeys,
      keyPrefix: config.keyPrefix,
      issuer: config.issuer,
      // Rows hashed under a retired server secret are re-hashed on their next successful use.
      onStaleHash: (record, secret) => {
        const hash = hasher.hash(record.keyId, secret);
        updateSecretHash(db, record.keyId, record.hashVersion, hash.toString("base64"), hasher.currentVersion)
          .then(() => directory.invalidate(record.keyId))
          .catch((err: Error) => log.warn({ keyId: record.keyId, err: { message: err.message } }, "re-hash failed"));
      },
    });
    const service = new KeyService({
      db,
      directory,
      verifier,
      admin: new AdminAuthorizer(verifier, now),
      hasher,
      issueSealer: new Sealer(secrets, "issue request"),
      signingKeys,
      macaroonRootKeys,
      now,
      settings: {
        keyPrefix: config.keyPrefix,
        issuer: config.issuer,
        tokenDefaultTtlMs: config.tokenDefaultTtlMs,
        tokenMaxTtlMs: config.tokenMaxTtlMs,
      },
    });
    const adminKeyFile = await bootstrapAdminKey(db, service, config.dataDir, log);
    const follower = new ChangeFeedFollower(db, directory, { intervalMs: config.feedPollIntervalMs, log });
    await follower.start();

    const services = [{ service: KeyServiceDesc, handlers: bindServiceHandlers(KeyServiceDesc, [service]) }];
    const health = new HealthImplementation(Object.fromEntries(HEALTH_SERVICES.map((s) => [s, "SERVING" as const])));
    const grpcServer = createGrpcServer({ services, health, reflectionFiles: loadReflectionFiles(), log, maxMessageBytes: config.maxMessageBytes });
    const http = createHttpServer({
      services,
      jwks: () => ({ keys: signingKeys.jwks() }),
      isServing: () => true,
      log,
      maxMessageBytes: config.maxMessageBytes,
    });
    const grpcPort = await bindGrpcServer(grpcServer, config.grpcAddress);
    const httpPort = await http.listen(config.httpAddress).catch(async (err) => {
      grpcServer.forceShutdown();
      throw err;
    });
    log.info({ grpc: `${config.grpcAddress.host}:${grpcPort}`, http: `${config.httpAddress.host}:${httpPort}`, dialect }, "sigil is listening");

    let closing: Promise<void> | undefined;
    return {
      grpcPort,
      httpPort,
      service,
      log,
      adminKeyFile,
      close() {
        closing ??= (async () => {
          for (const s of HEALTH_SERVICES) health.setStatus(s, "NOT_SERVING");
          await Promise.all([shutdownGrpcServer(grpcServer, config.shutdownGraceMs), http.close(config.shutdownGraceMs)]);
          await follower.stop();
          await db.destroy();
          log.info("sigil stopped");
          log.flush();
        })();
        return closing;
      },
    };
  } catch (err) {
    await db.destroy();
    throw err;
  }
}
