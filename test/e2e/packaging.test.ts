import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startTestServer, type TestServer } from "../support/test-server.js";

const run = promisify(execFile);
/** The repository root (this file runs from dist/test/e2e). */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
/** Modules only the server needs; the client entry must load none of them. */
const SERVER_ONLY = ["better-sqlite3", "pg", "kysely", "pino", "@grpc/grpc-js", "@grpc/reflection", "grpc-health-check"];

/** Every module the client entry loads: its files (relative to the root) and the packages it imports. */
function clientImportGraph(): { files: string[]; packages: Set<string> } {
  const files: string[] = [];
  const packages = new Set<string>();
  const pending = [path.join(ROOT, "dist/clients/typescript/src/index.js")];
  const seen = new Set<string>();
  const specifiers = /(?:^|[\s;])(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|(?:^|[\s;])import\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm;
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    files.push(path.relative(ROOT, file));
    for (const m of readFileSync(file, "utf8").matchAll(specifiers)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      if (spec.startsWith(".")) pending.push(path.resolve(path.dirname(file), spec));
      else if (!spec.startsWith("node:") && !builtinModules.includes(spec)) {
        packages.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
      }
    }
  }
  return { files, packages };
}

describe("the client entry's import graph", () => {
  it("loads no server-only module and only declared runtime dependencies", () => {
    const { files, packages } = clientImportGraph();
    assert.ok(files.includes("dist/clients/typescript/src/offline-verifier.js") && files.includes("dist/clients/typescript/src/macaroon/attenuate.js"), files.join(" "));
    for (const file of files) assert.match(file, /^dist\/clients\/typescript\/src\//, `${file} is not client code`);
    for (const p of packages) {
      assert.ok(!SERVER_ONLY.includes(p), `the client imports server-only ${p}`);
      assert.ok(p in pkg.dependencies, `the client imports ${p}, which is not in dependencies`);
    }
    assert.deepEqual([...packages].sort(), ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-node", "jose"]);
  });
});

const PROGRAM = `
import { attenuate, createSigilClient, OfflineVerifier, scopeCaveat, TokenFormat, VerifyReason } from "sigil/client";

const { SIGIL_GRPC_URL, SIGIL_HTTP_URL, SIGIL_ADMIN_KEY } = process.env;
const admin = createSigilClient({ baseUrl: SIGIL_GRPC_URL, adminKey: SIGIL_ADMIN_KEY });
const connect = createSigilClient({ baseUrl: SIGIL_HTTP_URL, protocol: "connect" });
const out = {};

const agent = await admin.issueKey({ name: "packaged", owner: "agent:pkg", scopes: ["read", "write"] });
const verifierKey = await admin.issueKey({ name: "packaged verifier", owner: "svc:pkg", scopes: ["sigil:verify"] });
out.apiKey = VerifyReason[(await connect.verifyKey({ credential: agent.secret })).reason];

const jwt = await admin.deriveToken({ credential: agent.secret, format: TokenFormat.JWT, scopes: ["read"] });
const verifier = new OfflineVerifier({ baseUrl: SIGIL_GRPC_URL, credential: verifierKey.secret });
await verifier.start();
const offline = await verifier.verify(jwt.token, { requiredScopes: ["read"] });
out.offline = offline.valid ? offline.scopes : offline.reason;

const macaroon = await admin.deriveToken({ credential: agent.secret, format: TokenFormat.MACAROON });
const narrowed = attenuate(macaroon.token, [scopeCaveat(["read"])]);
out.narrowedRead = VerifyReason[(await connect.verifyKey({ credential: narrowed, requiredScopes: ["read"] })).reason];
out.narrowedWrite = VerifyReason[(await connect.verifyKey({ credential: narrowed, requiredScopes: ["write"] })).reason];

await admin.revokeKey({ keyId: agent.key.keyId, reason: "packaging test" });
const revokedAt = Date.now();
let after = await verifier.verify(jwt.token);
while (after.valid && Date.now() - revokedAt < 5000) {
  await new Promise((r) => setTimeout(r, 10));
  after = await verifier.verify(jwt.token);
}
out.afterRevoke = after.valid ? "VALID" : VerifyReason[after.reason];
await verifier.close();
console.log(JSON.stringify(out));
`;

/** Type-checks against the installed package; the @ts-expect-error proves the types are real, not `any`. */
const TYPESCRIPT_PROGRAM = `
import { createSigilClient, OfflineVerifier, TokenFormat, type OfflineVerification } from "sigil/client";

export async function check(baseUrl: string, credential: string, token: string): Promise<string> {
  const verifier = new OfflineVerifier({ baseUrl, credential, audience: "billing-api", staleAfterMs: 10_000 });
  const result: OfflineVerification = await verifier.verify(token, { requiredScopes: ["read"] });
  const derived = await createSigilClient({ baseUrl }).deriveToken({ credential, format: TokenFormat.JWT });
  // @ts-expect-error misspelt option
  new OfflineVerifier({ baseUrl, credential, staleAfter: 5 });
  return result.valid ? result.keyId + result.scopes.join(" ") : result.reason + derived.token;
}
`;

describe("the npm package", () => {
  let work: string;
  let server: TestServer;
  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), "sigil-pack-"));
    server = await startTestServer();
  });
  after(async () => {
    await server.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("installs from `npm pack` into another project and works there from JavaScript and TypeScript", async (t) => {
    // dist/ is what `make test` just built; prepack would rebuild it (slowly) for a real `npm pack`.
    const packed = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], { cwd: ROOT, maxBuffer: 16 << 20 });
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const contents = info!.files.map((f) => f.path);
    for (const needed of ["dist/clients/typescript/src/index.js", "dist/clients/typescript/src/index.d.ts", "dist/clients/typescript/src/offline-verifier.d.ts", "dist/src/cli/main.js", "descriptors/sigil.binpb"]) {
      assert.ok(contents.includes(needed), `the tarball lacks ${needed}`);
    }
    assert.ok(!contents.some((f) => f.startsWith("dist/test/") || f.startsWith("dist/bench/") || f.startsWith("src/") || f.endsWith(".map")), "no tests, sources or maps in the tarball");

    const project = path.join(work, "consumer");
    mkdirSync(project);
    writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    const started = Date.now();
    // --ignore-scripts: the client needs no native addon, so better-sqlite3 (server only) is not compiled.
    await run("npm", ["install", path.join(work, info!.filename), "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], {
      cwd: project,
      maxBuffer: 16 << 20,
      timeout: 240_000,
    });
    t.diagnostic(`npm install of the tarball took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const installed = path.join(project, "node_modules");
    assert.ok(!existsSync(path.join(installed, "typescript")) && !existsSync(path.join(installed, "@bufbuild/buf")), "no dev dependencies installed");
    // Prove the client runs without the server's dependencies: remove them.
    for (const name of SERVER_ONLY) rmSync(path.join(installed, name), { recursive: true, force: true });

    writeFileSync(path.join(project, "app.mjs"), PROGRAM);
    const result = await run(process.execPath, ["app.mjs"], {
      cwd: project,
      timeout: 60_000,
      env: { PATH: process.env.PATH, SIGIL_GRPC_URL: server.grpcUrl, SIGIL_HTTP_URL: server.httpUrl, SIGIL_ADMIN_KEY: server.adminKey },
    });
    assert.deepEqual(JSON.parse(result.stdout), {
      apiKey: "VALID",
      offline: ["read"],
      narrowedRead: "VALID",
      narrowedWrite: "INSUFFICIENT_SCOPE",
      afterRevoke: "REVOKED",
    });

    writeFileSync(path.join(project, "app.ts"), TYPESCRIPT_PROGRAM);
    const tsc = path.join(ROOT, "node_modules/typescript/bin/tsc");
    // Node's own resolution (the exports map) and the older node10 resolution (typesVersions).
    for (const [module, moduleResolution] of [["nodenext", "nodenext"], ["esnext", "node10"]]) {
      const compilerOptions = { module, moduleResolution, target: "es2022", strict: true, noEmit: true, skipLibCheck: true, types: [] };
      writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["app.ts"] }));
      const checked = await run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: project }).catch((err: { stdout?: string }) => err);
      assert.ok(!("stdout" in checked) || checked.stdout === "", `tsc (${moduleResolution}) failed: ${"stdout" in checked ? checked.stdout : ""}`);
    }
  });
});
