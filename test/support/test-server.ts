import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { build, type SigilApp } from "../../src/app/build.js";
import { loadConfig } from "../../src/config/config.js";
import { createTestDatabase, testDialect, type TestDatabase } from "./postgres.js";

/** A real Sigil on ephemeral ports in a temporary data dir, with its log lines captured. */
export interface TestServer {
  readonly app: SigilApp;
  readonly grpcUrl: string;
  readonly httpUrl: string;
  readonly adminKey: string;
  readonly dataDir: string;
  /** The database it uses: SQLite in its data dir, or (SIGIL_TEST_DIALECT=postgres) its own PostgreSQL database. */
  readonly databaseUrl: string;
  /** Env that makes another server share this one's database and server secret (see `join`). */
  readonly joinEnv: Readonly<Record<string, string>>;
  /** Every log line written so far. */
  readonly logs: string[];
  /** Moves the server's clock forward. */
  advance(ms: number): void;
  /** The server's clock (ms): the real time plus what the test advanced it. */
  now(): number;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Share that server's database, server secret and admin key: a second instance of one deployment. Close the joiner first. */
  readonly join?: TestServer;
  /** The server's clock starts at this time (ms) instead of now, from before start-up (a database made at that moment). */
  readonly startTimeMs?: number;
  /** The admin key to use, for a database whose first admin key exists already (no admin.key is written then). */
  readonly adminKey?: string;
  /** Most keys one forced DeleteTenant revokes (the server's default: 10,000). */
  readonly maxForcedTenantRevocations?: number;
}

export async function startTestServer(env: Record<string, string> = {}, options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-test-"));
  // With SIGIL_TEST_DIALECT=postgres every server gets a fresh database, unless the test chose one.
  let ownDatabase: TestDatabase | undefined;
  if (!env.SIGIL_DATABASE_URL && !options.join && testDialect() === "postgres") ownDatabase = await createTestDatabase();
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString("utf8").split("\n").filter((l) => l.length > 0));
      cb();
    },
  });
  let offset = options.startTimeMs === undefined ? 0 : options.startTimeMs - Date.now();
  const config = loadConfig([], {
    SIGIL_DATA_DIR: dataDir,
    SIGIL_GRPC_ADDR: "127.0.0.1:0",
    SIGIL_HTTP_ADDR: "127.0.0.1:0",
    SIGIL_METRICS_ADDR: "127.0.0.1:0",
    SIGIL_LOG_LEVEL: "info",
    SIGIL_SHUTDOWN_GRACE: "2s",
    ...(ownDatabase ? { SIGIL_DATABASE_URL: ownDatabase.url } : {}),
    ...options.join?.joinEnv,
    ...env,
  });
  const app = await build(config, {
    logDestination: destination,
    now: () => Date.now() + offset,
    ...(options.maxForcedTenantRevocations === undefined ? {} : { maxForcedTenantRevocations: options.maxForcedTenantRevocations }),
  });
  return {
    app,
    grpcUrl: `http://127.0.0.1:${app.grpcPort}`,
    httpUrl: `http://127.0.0.1:${app.httpPort}`,
    adminKey: options.adminKey ?? options.join?.adminKey ?? readFileSync(path.join(dataDir, "admin.key"), "utf8").trim(),
    dataDir,
    databaseUrl: config.databaseUrl,
    joinEnv: {
      SIGIL_DATABASE_URL: config.databaseUrl,
      SIGIL_SERVER_SECRET: config.serverSecret ?? readFileSync(path.join(dataDir, "server-secret"), "utf8").trim(),
    },
    logs,
    advance(ms) {
      offset += ms;
    },
    now() {
      return Date.now() + offset;
    },
    async close() {
      await app.close();
      await ownDatabase?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
