import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { CLI_MAIN } from "../support/cli-process.js";
import { bash, localServeArgs, readmeShBlocks } from "../support/readme-blocks.js";
import { databaseForTest, testDialect } from "../support/postgres.js";
import { startSigilProcess, type SigilProcess } from "../support/sigil-process.js";

const BUF = fileURLToPath(new URL("../../../node_modules/.bin/buf", import.meta.url));

/** Each line of a block, followed by a marker of its exit code on stderr. */
const stepwise = (block: string) =>
  block
    .split("\n")
    .filter((l) => l.trim() && !l.startsWith("#"))
    .map((l, i) => `${l}\necho "step ${i} exit $?" >&2`)
    .join("\n");
const exitsOf = (stderr: string) => [...stderr.matchAll(/^step (\d+) exit (\d+)$/gm)].map((m) => Number(m[2]));

describe(`README "Deploying with TLS and mTLS" (${testDialect()})`, () => {
  it("runs every command of the section as written", async () => {
    const [certificates, servers, callers] = readmeShBlocks("### Deploying with TLS and mTLS");
    assert.ok(certificates && servers && callers, "three sh blocks");
    const work = mkdtempSync(path.join(tmpdir(), "sigil-deploy-tls-"));
    const database = await databaseForTest(work);
    const dataDirs = new Map<string, string>();
    const processes: SigilProcess[] = [];
    try {
      // Block 1: the certificates, made with openssl as written.
      const made = await bash(stepwise(certificates), { cwd: work, env: { PATH: process.env.PATH ?? "" } });
      assert.deepEqual(exitsOf(made.stderr), [0, 0, 0, 0, 0, 0, 0], made.stderr);

      // Block 2: each `sigil serve` line, with the test's database, ports and data dirs; TLS files from block 1.
      const { stdout: secret } = await bash("openssl rand -base64 32", { cwd: work, env: { PATH: process.env.PATH ?? "" } });
      const env = { SIGIL_DATABASE_URL: database.url, SIGIL_SERVER_SECRET: secret.trim(), SIGIL_LOG_LEVEL: "info" };
      const serveLines = servers.split("\n").filter((l) => l.startsWith("sigil serve "));
      assert.deepEqual(serveLines.map((l) => /--mode (\w+)/.exec(l)?.[1]), ["admin", "verify"]);
      const grpcPorts: number[] = [];
      const httpPorts: number[] = [];
      for (const line of serveLines) {
        const local = localServeArgs(line, dataDirs, work);
        const p = startSigilProcess(local, env);
        processes.push(p);
        const [first] = await p.waitForListening(Math.min(availableParallelism(), 256), 60_000);
        grpcPorts.push(Number(new URL(first!.grpcUrl).port));
        httpPorts.push(Number(new URL(first!.httpUrl).port));
        assert.ok(p.logs().some((l) => l.msg === "sigil is listening" && l.tls === "mtls"));
      }
      const adminDir = dataDirs.get("/var/lib/sigil-admin")!;

      // Block 3: the callers' commands, with the test's addresses.
      const script = stepwise(
        callers
          .replaceAll("https://10.0.0.5:4420", `https://127.0.0.1:${grpcPorts[0]}`)
          .replaceAll("https://127.0.0.1:4420", `https://127.0.0.1:${grpcPorts[1]}`)
          .replaceAll("https://127.0.0.1:4421", `https://127.0.0.1:${httpPorts[1]}`)
          .replaceAll("/var/lib/sigil-admin", adminDir)
          .replaceAll("npx @bufbuild/buf", JSON.stringify(BUF)),
      );
      const run = await bash(`set -u -o pipefail\nsigil() { node ${JSON.stringify(CLI_MAIN)} "$@"; }\n${script}`, { cwd: work, env: { PATH: process.env.PATH ?? "" } });
      // export, export, issue, jq, verify, curl, buf curl, verify without a client certificate (refused)
      assert.deepEqual(exitsOf(run.stderr), [0, 0, 0, 0, 0, 0, 0, 1], run.stderr);
      assert.match(run.stdout, /^valid\s+true$/m);
      assert.match(run.stdout, /"valid":\s*true/);
      assert.match(run.stdout, /"keys":\s*\[/);
      assert.match(run.stderr, /^sigil: the server (requires a client certificate|closed the TLS connection without answering: if it requires client certificates)/m);
    } finally {
      await Promise.all(processes.map((p) => p.stop("SIGTERM")));
      await database.drop();
      for (const dir of [work, ...dataDirs.values()]) rmSync(dir, { recursive: true, force: true });
    }
  });
});
