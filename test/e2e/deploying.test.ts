import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { createSigilClient } from "../../clients/typescript/src/index.js";
import { VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { CLI_MAIN } from "../support/cli-process.js";
import { bash, localServeArgs, readmeShBlocks } from "../support/readme-blocks.js";
import { databaseForTest, testDialect } from "../support/postgres.js";
import { startSigilProcess, type SigilProcess } from "../support/sigil-process.js";

/** The ```sh blocks of the README's "Deploying" subsection, in order. */
const deployingBlocks = () => readmeShBlocks("### Deploying");

describe(`README "Deploying": an admin instance and a verify instance on one database (${testDialect()})`, () => {
  it("runs every command of the section as written", async () => {
    const [servers, commands] = deployingBlocks();
    assert.ok(servers && commands, "two sh blocks");
    const work = mkdtempSync(path.join(tmpdir(), "sigil-deploy-work-"));
    const database = await databaseForTest(work);
    const dataDirs = new Map<string, string>();
    const processes: SigilProcess[] = [];
    try {
      // Block 1: the exports (with the test's database), then each `sigil serve` line.
      const exports = servers.split("\n").filter((l) => l.startsWith("export "));
      assert.equal(exports.length, 2);
      const envScript = exports.map((l) => (l.startsWith("export SIGIL_DATABASE_URL=") ? `export SIGIL_DATABASE_URL='${database.url}'` : l)).join("\n");
      const { stdout: secret } = await bash(`${envScript}\nprintf %s "$SIGIL_SERVER_SECRET"`, { cwd: work, env: { PATH: process.env.PATH ?? "" } });
      assert.match(secret, /^[A-Za-z0-9+/]{43}=$/, "openssl rand -base64 32");
      const env = { SIGIL_DATABASE_URL: database.url, SIGIL_SERVER_SECRET: secret, SIGIL_LOG_LEVEL: "info" };
      const serveLines = servers.split("\n").filter((l) => l.startsWith("sigil serve "));
      assert.deepEqual(serveLines.map((l) => /--mode (\w+)/.exec(l)?.[1]), ["admin", "verify"]);
      const listening: Array<{ grpcUrl: string }> = [];
      for (const line of serveLines) {
        const p = startSigilProcess(localServeArgs(line, dataDirs), env);
        processes.push(p);
        const [first] = await p.waitForListening(Math.min(availableParallelism(), 256), 60_000);
        listening.push(first!);
      }
      const [adminDir, verifyDir] = [...dataDirs.values()];
      assert.ok(existsSync(path.join(adminDir!, "admin.key")), "the admin instance wrote the first admin key");
      assert.ok(!existsSync(path.join(verifyDir!, "admin.key")), "the verify instance did not");

      // Block 2: each command, with the test's addresses and admin data dir; exit codes recorded.
      const script = commands
        .replaceAll("http://10.0.0.5:4420", listening[0]!.grpcUrl)
        .replaceAll("http://127.0.0.1:4420", listening[1]!.grpcUrl)
        .replaceAll("/var/lib/sigil-admin", adminDir!)
        .split("\n")
        .filter((l) => l.trim() && !l.startsWith("#"))
        .map((l, i) => `${l}\necho "step ${i} exit $?" >&2`)
        .join("\n");
      const run = await bash(`set -u -o pipefail\nsigil() { node ${JSON.stringify(CLI_MAIN)} "$@"; }\n${script}`, { cwd: work, env: { PATH: process.env.PATH ?? "" } });
      const exits = [...run.stderr.matchAll(/^step (\d+) exit (\d+)$/gm)].map((m) => Number(m[2]));
      // export, issue, jq, verify, derive, keys list (refused), revoke
      assert.deepEqual(exits, [0, 0, 0, 0, 0, 1, 0], run.stderr);
      assert.match(run.stdout, /^valid\s+true$/m);
      assert.match(run.stdout, /^token\s+eyJ/m);
      assert.match(run.stderr, /^sigil: UNIMPLEMENTED: .*--mode verify serves no admin commands/m);
      assert.match(run.stdout, /^status\s+revoked$/m);

      const issued = JSON.parse(readFileSync(path.join(work, "billing.json"), "utf8")) as { key: { keyId: string }; secret: string };
      const check = await createSigilClient({ baseUrl: listening[0]!.grpcUrl }).verifyKey({ credential: issued.secret });
      assert.equal(VerifyReason[check.reason], "REVOKED", "the self-revocation on the verify instance reached the admin instance");
    } finally {
      await Promise.all(processes.map((p) => p.stop("SIGTERM")));
      await database.drop();
      for (const dir of [work, ...dataDirs.values()]) rmSync(dir, { recursive: true, force: true });
    }
  });
});
