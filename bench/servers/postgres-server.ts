// A throwaway PostgreSQL cluster for the PostgreSQL scenarios, started with the test suite's helper
// (test/support/postgres.ts: initdb in a temporary directory, trust authentication on 127.0.0.1,
// fsync off) and pinned to the given cores once it runs.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import pg from "pg";
import { createTestDatabase, PostgresCluster, postgresBinDir } from "../../test/support/postgres.js";
import { childPids } from "./proc-stats.js";

export interface BenchPostgres {
  /** URL of an empty database on the cluster, for SIGIL_DATABASE_URL. */
  databaseUrl: string;
  /** The postmaster: it and its descendants (every backend) are the database's processes. */
  postmasterPid: number;
  /** Where PostgreSQL comes from, for the report. */
  binDir: string;
  version: string;
  /** Stops the cluster and deletes its directory. */
  destroy(): void;
}

/** Why the PostgreSQL scenarios cannot run here, or undefined when they can. */
export function postgresUnavailable(): string | undefined {
  return postgresBinDir() === undefined ? "PostgreSQL is not installed (Debian: apt-get install -y postgresql)" : undefined;
}

async function query<T>(url: string, sql: string): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => {});
  await client.connect();
  try {
    return (await client.query(sql)).rows[0] as T;
  } finally {
    await client.end();
  }
}

/** The postmaster is the parent of every backend, such as the one answering this query. */
async function findPostmaster(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => {});
  await client.connect();
  try {
    // Read while connected: once the client ends, its backend exits and its /proc entry with it.
    const { pid } = (await client.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!;
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } finally {
    await client.end();
  }
}

/** Pins the postmaster and its running children; backends it forks later inherit its affinity. */
export function pinPostgres(postmasterPid: number, cpus: string): void {
  for (const pid of [postmasterPid, ...childPids(postmasterPid)]) {
    execFileSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "ignore" });
  }
}

export async function startPostgres(): Promise<BenchPostgres> {
  const cluster = await PostgresCluster.create();
  try {
    const database = await createTestDatabase(cluster.url());
    const { version } = await query<{ version: string }>(cluster.url(), "select current_setting('server_version') as version");
    return {
      databaseUrl: database.url,
      postmasterPid: await findPostmaster(cluster.url()),
      binDir: postgresBinDir()!,
      version,
      destroy: cluster.destroy,
    };
  } catch (err) {
    cluster.destroy();
    throw err;
  }
}
