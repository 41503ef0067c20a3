import { spawn } from "node:child_process";
import { PostgresCluster, postgresBinDir } from "./postgres.js";

/**
 * `node dist/test/support/with-postgres.js <command...>`: starts a throwaway PostgreSQL cluster,
 * runs the command with SIGIL_TEST_DIALECT=postgres and SIGIL_TEST_PG_URL pointing at it, stops the
 * cluster and exits with the command's status. Without PostgreSQL installed it says so and exits
 * 0, unless SIGIL_TEST_REQUIRE_POSTGRES=1 (CI) makes that a failure.
 */
async function main(command: string[]): Promise<number> {
  if (command.length === 0) {
    process.stderr.write("usage: with-postgres.js <command> [args...]\n");
    return 2;
  }
  if (!postgresBinDir()) {
    const required = process.env.SIGIL_TEST_REQUIRE_POSTGRES === "1";
    process.stderr.write(
      `${required ? "error" : "note"}: PostgreSQL is not installed, so the suite did not run on PostgreSQL ` +
        "(Debian/Ubuntu: apt-get install -y postgresql; .ci/run does this)\n",
    );
    return required ? 1 : 0;
  }
  const cluster = await PostgresCluster.create();
  const cleanup = () => cluster.destroy();
  process.once("SIGINT", cleanup);
  process.once("SIGTERM", cleanup);
  try {
    process.stderr.write(`PostgreSQL test cluster on 127.0.0.1:${cluster.port}\n`);
    const child = spawn(command[0]!, command.slice(1), {
      stdio: "inherit",
      env: { ...process.env, SIGIL_TEST_DIALECT: "postgres", SIGIL_TEST_PG_URL: cluster.url() },
    });
    return await new Promise<number>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  } finally {
    cleanup();
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: Error) => {
    process.stderr.write(`with-postgres: ${err.message}\n`);
    process.exitCode = 1;
  },
);
