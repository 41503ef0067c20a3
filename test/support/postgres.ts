import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { freePort } from "./free-port.js";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";

/**
 * PostgreSQL for tests. `SIGIL_TEST_DIALECT=postgres` runs every test server on a fresh database of
 * one cluster: the one at `SIGIL_TEST_PG_URL` (a superuser URL; `make test` starts a throwaway
 * cluster and sets it), or else a throwaway cluster this test process starts on first use and
 * stops at exit. Tests that stop and start PostgreSQL start a private cluster of their own.
 */

export type TestDialect = "sqlite" | "postgres";

export function testDialect(): TestDialect {
  const value = process.env.SIGIL_TEST_DIALECT ?? "sqlite";
  if (value !== "sqlite" && value !== "postgres") throw new Error(`SIGIL_TEST_DIALECT must be sqlite or postgres, got "${value}"`);
  return value;
}

/** The directory holding initdb and pg_ctl (Debian: /usr/lib/postgresql/<version>/bin), if installed. */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(path.join(root, v, "bin", "initdb")))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return path.join(root, versions[0]!, "bin");
  }
  const which = spawnSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" });
  const found = which.stdout.trim();
  return which.status === 0 && found ? path.dirname(found) : undefined;
}

/** PostgreSQL refuses to run as root; as root we run its programs as the `postgres` user. */
function asClusterOwner(command: string, args: string[]): { command: string; args: string[] } {
  if (userInfo().uid !== 0) return { command, args };
  return { command: "runuser", args: ["-u", "postgres", "--", command, ...args] };
}

/** Runs a PostgreSQL program without blocking the event loop (a server in this process keeps serving). */
async function run(command: string, args: string[]): Promise<void> {
  const c = asClusterOwner(command, args);
  try {
    await promisify(execFile)(c.command, c.args, { encoding: "utf8" });
  } catch (err) {
    const e = err as { code?: number; stderr?: string; stdout?: string };
    throw new Error(`${path.basename(command)} failed (${e.code}): ${(e.stderr || e.stdout || "").slice(-2000)}`);
  }
}


/** A throwaway cluster in a temporary directory, on a free port of 127.0.0.1, with trust authentication. */
export class PostgresCluster {
  readonly #bin: string;
  readonly #dir: string;
  readonly port: number;

  private constructor(bin: string, dir: string, port: number) {
    this.#bin = bin;
    this.#dir = dir;
    this.port = port;
  }

  /** initdb + start; throws when PostgreSQL is not installed. */
  static async create(): Promise<PostgresCluster> {
    const bin = postgresBinDir();
    if (!bin) throw new Error("PostgreSQL is not installed (Debian: apt-get install -y postgresql)");
    const dir = mkdtempSync(path.join(tmpdir(), "sigil-pg-"));
    if (userInfo().uid === 0) {
      const id = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
      const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
      if (id.status !== 0) throw new Error("running as root needs a `postgres` user to own the test cluster");
      chownSync(dir, Number(id.stdout.trim()), Number(gid.stdout.trim()));
    }
    await run(path.join(bin, "initdb"), ["-D", path.join(dir, "data"), "-U", "sigil", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
    const cluster = new PostgresCluster(bin, dir, await freePort());
    // Also when a test dies before its own clean-up: a postmaster would outlive this process.
    process.once("exit", cluster.destroy);
    await cluster.start();
    return cluster;
  }

  /** Superuser URL of a database on this cluster (default: the maintenance database). */
  url(database = "postgres"): string {
    return `postgres://sigil@127.0.0.1:${this.port}/${database}`;
  }

  start(): Promise<void> {
    // fsync off: a test cluster needs no crash safety of its own (Sigil's processes are what tests kill).
    const options = `-p ${this.port} -k ${this.#dir} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c full_page_writes=off`;
    return run(path.join(this.#bin, "pg_ctl"), ["-D", path.join(this.#dir, "data"), "-l", path.join(this.#dir, "server.log"), "-o", options, "-w", "-t", "60", "start"]);
  }

  /** Fast shutdown: open sessions are terminated (57P01), as when an operator stops the server. */
  stop(): Promise<void> {
    return run(path.join(this.#bin, "pg_ctl"), ["-D", path.join(this.#dir, "data"), "-m", "fast", "-w", "-t", "60", "stop"]);
  }

  /** Stops (immediately) and deletes the cluster; idempotent. */
  readonly destroy = (): void => {
    process.off("exit", this.destroy);
    if (!existsSync(this.#dir)) return;
    const c = asClusterOwner(path.join(this.#bin, "pg_ctl"), ["-D", path.join(this.#dir, "data"), "-m", "immediate", "-w", "stop"]);
    spawnSync(c.command, c.args, { stdio: "ignore" });
    rmSync(this.#dir, { recursive: true, force: true });
  };
}

let sharedCluster: Promise<PostgresCluster> | undefined;

/** Superuser URL of the cluster test databases are created on. */
async function sharedClusterUrl(): Promise<string> {
  if (process.env.SIGIL_TEST_PG_URL) return process.env.SIGIL_TEST_PG_URL;
  sharedCluster ??= PostgresCluster.create();
  return (await sharedCluster).url();
}

/** A fresh, empty database; `drop()` removes it once nothing is connected. */
export interface TestDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(adminUrl?: string): Promise<TestDatabase> {
  const admin = adminUrl ?? (await sharedClusterUrl());
  const name = `sigil_test_${randomBytes(6).toString("hex")}`;
  await withClient(admin, (c) => c.query(`create database ${name}`));
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => withClient(admin, (c) => c.query(`drop database if exists ${name} with (force)`)).then(() => {}),
  };
}

async function withClient<T>(url: string, f: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => {});
  await client.connect();
  try {
    return await f(client);
  } finally {
    await client.end();
  }
}

/** The database a test's own `sigil serve` processes share: SQLite in `dataDir`, or a fresh PostgreSQL database. */
export async function databaseForTest(dataDir: string): Promise<TestDatabase> {
  if (testDialect() === "sqlite") return { url: `sqlite:${path.join(dataDir, "sigil.db")}`, drop: async () => {} };
  return createTestDatabase();
}
