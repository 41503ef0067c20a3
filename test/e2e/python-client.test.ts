import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createSigilClient } from "../../clients/typescript/src/index.js";
import { readmeShBlocks } from "../support/readme-blocks.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/**
 * The README's Python recipe (Calling Sigil from other languages), run as written with Debian's
 * python3-grpcio and python3-grpc-tools. `/usr/bin` first on PATH: a pyenv `python3` does not see
 * Debian's packages.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const PYTHON = "/usr/bin/python3";
const PATH = `/usr/bin:/bin:${process.env.PATH ?? ""}`;

function pythonGrpcMissing(): string | undefined {
  const probe = spawnSync(PYTHON, ["-I", "-c", "import grpc, grpc_tools.protoc"], { encoding: "utf8", timeout: 30_000 });
  return probe.status === 0 ? undefined : `grpcio or grpc_tools not importable by ${PYTHON} (apt-get install python3-grpcio python3-grpc-tools)`;
}
const missing = pythonGrpcMissing();
if (missing && process.env.SIGIL_TEST_REQUIRE_PYTHON_GRPC === "1") throw new Error(missing);
const skip = (t: TestContext) => (missing ? (t.skip(missing), true) : false);

const bash = (script: string, cwd: string, env: Record<string, string>) =>
  promisify(execFile)("bash", ["-c", script], { cwd, env: { PATH, ...env }, encoding: "utf8", timeout: 120_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" }),
  );

describe("the Python recipe", () => {
  let server: TestServer;
  let work: string;
  let recipe: string;
  before(async () => {
    server = await startTestServer();
    work = mkdtempSync(path.join(tmpdir(), "sigil-python-"));
    // The README's relative paths (proto/, examples/), without writing stubs into the repository.
    symlinkSync(path.join(ROOT, "proto"), path.join(work, "proto"));
    symlinkSync(path.join(ROOT, "examples"), path.join(work, "examples"));
    const [block] = readmeShBlocks("### Calling Sigil from other languages");
    recipe = block!.replace("127.0.0.1:4420", server.grpcUrl.replace("http://", ""));
  });
  after(async () => {
    await server.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("generates stubs from proto/sigil and verifies a key with them, as the README shows", async (t) => {
    if (skip(t)) return;
    const admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    const { key, secret } = await admin.issueKey({ name: "python", owner: "svc:billing", scopes: ["invoices:read", "invoices:write"] });
    const valid = await bash(recipe, work, { KEY: secret });
    assert.equal(valid.code, 0, valid.stderr);
    assert.equal(valid.stdout.trim(), `valid key_id=${key!.keyId} owner=svc:billing scopes=invoices:read invoices:write`);

    await admin.revokeKey({ keyId: key!.keyId, reason: "python recipe" });
    const revoked = await bash(recipe, work, { KEY: secret });
    assert.deepEqual([revoked.code, revoked.stdout.trim()], [1, "invalid REVOKED"]);
  });

  it("says what is wrong when generated health stubs shadow grpcio", async (t) => {
    if (skip(t)) return;
    const stubs = path.join(work, "shadowed");
    mkdirSync(stubs);
    const gen = await bash(`${PYTHON} -m grpc_tools.protoc -I proto --python_out=shadowed --grpc_python_out=shadowed proto/grpc/health/v1/health.proto proto/sigil/v1/*.proto`, work, {});
    assert.equal(gen.code, 0, gen.stderr);
    writeFileSync(path.join(stubs, "grpc", "__init__.py"), "");
    const run = await bash(`PYTHONPATH=shadowed ${PYTHON} examples/python/verify_key.py 127.0.0.1:1 x`, work, {});
    assert.equal(run.code, 1);
    assert.match(run.stderr, /not grpcio: remove the generated grpc\/ directory/);
  });
});
