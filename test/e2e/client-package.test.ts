import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { readmeTsBlocks } from "../support/readme-blocks.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/**
 * @sigil/client as a user gets it: `npm pack` of clients/typescript, installed from the tarball
 * into an empty project, where it must load without the server's packages, type-check, and run
 * the README's middleware snippets against a live Sigil.
 */
const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const CLIENT = path.join(ROOT, "clients/typescript");
/** Everything `npm install @sigil/client` may bring: the package and its four dependencies. */
const INSTALLED = ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-node", "@sigil/client", "jose"];

/** What a user of the JS API does, without any framework installed. */
const PROGRAM = `
import { attenuate, createSigilAuth, createSigilClient, OfflineVerifier, scopeCaveat, TokenFormat, VerifyReason } from "@sigil/client";
import { sigilConnectInterceptor } from "@sigil/client/connect";
import { sigilExpress } from "@sigil/client/express";
import { sigilFastify } from "@sigil/client/fastify";

const { SIGIL_GRPC_URL, SIGIL_ADMIN_KEY, SIGIL_VERIFIER_KEY } = process.env;
const admin = createSigilClient({ baseUrl: SIGIL_GRPC_URL, adminKey: SIGIL_ADMIN_KEY });
const out = {};
const agent = await admin.issueKey({ name: "packaged", owner: "agent:pkg", scopes: ["read", "write"] });

const auth = createSigilAuth({ baseUrl: SIGIL_GRPC_URL, verifierKey: SIGIL_VERIFIER_KEY });
await auth.ready();
const verified = await auth.authenticate(agent.secret, { requiredScopes: ["read"] });
out.auth = verified.ok ? verified.identity.owner : verified.denial.status;
out.adapters = [typeof sigilConnectInterceptor(auth), typeof sigilExpress(auth).require("read"), typeof sigilFastify(auth).require("read")];
await auth.close();

const jwt = await admin.deriveToken({ credential: agent.secret, format: TokenFormat.JWT, scopes: ["read"] });
const verifier = new OfflineVerifier({ baseUrl: SIGIL_GRPC_URL, credential: SIGIL_VERIFIER_KEY });
await verifier.start();
const offline = await verifier.verify(jwt.token, { requiredScopes: ["read"] });
out.offline = offline.valid ? offline.scopes : offline.reason;
await verifier.close();

const macaroon = await admin.deriveToken({ credential: agent.secret, format: TokenFormat.MACAROON });
const narrowed = attenuate(macaroon.token, [scopeCaveat(["read"])]);
out.narrowedWrite = VerifyReason[(await admin.verifyKey({ credential: narrowed, requiredScopes: ["write"] })).reason];
out.grpcJs = await import("@sigil/client/grpc-js").then(() => "loaded", (err) => err.code);
console.log(JSON.stringify(out));
`;

/** billing.v1.Invoices as protoc-gen-es would write it: the service the README's Connect snippet imports. */
function billingGenCode(): string {
  const file = create(FileDescriptorProtoSchema, {
    name: "billing/v1/invoices.proto",
    package: "billing.v1",
    syntax: "proto3",
    messageType: [{ name: "ListInvoicesRequest" }, { name: "ListInvoicesResponse", field: [{ name: "owner", jsonName: "owner", number: 1, type: 9, label: 1 }] }],
    service: [{ name: "Invoices", method: [{ name: "List", inputType: ".billing.v1.ListInvoicesRequest", outputType: ".billing.v1.ListInvoicesResponse" }] }],
  });
  return `import type { GenFile, GenMessage, GenService } from "@bufbuild/protobuf/codegenv2";
import { fileDesc, messageDesc, serviceDesc } from "@bufbuild/protobuf/codegenv2";
import type { Message } from "@bufbuild/protobuf";
export const file_billing_v1_invoices: GenFile = fileDesc(${JSON.stringify(Buffer.from(toBinary(FileDescriptorProtoSchema, file)).toString("base64"))});
export type ListInvoicesRequest = Message<"billing.v1.ListInvoicesRequest">;
export const ListInvoicesRequestSchema: GenMessage<ListInvoicesRequest> = messageDesc(file_billing_v1_invoices, 0);
export type ListInvoicesResponse = Message<"billing.v1.ListInvoicesResponse"> & { owner: string };
export const ListInvoicesResponseSchema: GenMessage<ListInvoicesResponse> = messageDesc(file_billing_v1_invoices, 1);
export const Invoices: GenService<{ list: { methodKind: "unary"; input: typeof ListInvoicesRequestSchema; output: typeof ListInvoicesResponseSchema } }> = serviceDesc(file_billing_v1_invoices, 0);
`;
}

/** The grpc-js definition the README's grpc-js snippet imports (JSON messages, as @grpc/proto-loader users often have). */
const INVOICES_GRPC = `import type * as grpc from "@grpc/grpc-js";
const json = { serialize: (m: unknown) => Buffer.from(JSON.stringify(m)), deserialize: (b: Buffer) => JSON.parse(b.toString() || "{}") as unknown };
export const invoicesDefinition: grpc.ServiceDefinition = {
  List: { path: "/billing.v1.Invoices/List", requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
};
`;

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe("the @sigil/client package", () => {
  let server: TestServer;
  let admin: SigilClient;
  let verifierKey: string;
  let work: string;
  let project: string;
  const children: ChildProcess[] = [];

  before(async () => {
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    verifierKey = (await admin.issueKey({ name: "verifier", owner: "svc:billing-api", scopes: ["sigil:verify"] })).secret;
    work = mkdtempSync(path.join(tmpdir(), "sigil-client-pack-"));
    project = path.join(work, "consumer");
  });
  after(async () => {
    for (const child of children) child.kill();
    await server.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("packs with its build, the protos and the LICENSE, and installs alone: five packages, no install script", async (t) => {
    // prepack builds dist/ with the repository's TypeScript and copies in proto/ and LICENSE.
    const packed = await run("npm", ["pack", "--json", "--pack-destination", work], { cwd: CLIENT, maxBuffer: 16 << 20 });
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("[\n"))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const contents = info!.files.map((f) => f.path);
    for (const needed of ["LICENSE", "README.md", "package.json", "dist/index.js", "dist/index.d.ts", "dist/grpc-js.js", "dist/connect.js", "dist/express.d.ts", "dist/fastify.d.ts", "dist/gen/sigil/v1/key_service_pb.js", "proto/sigil/v1/key_service.proto"]) {
      assert.ok(contents.includes(needed), `the tarball lacks ${needed}`);
    }
    assert.ok(!contents.some((f) => f.startsWith("src/") || f.startsWith("scripts/") || f.includes("grpc/health")), contents.join(" "));
    assert.match(readFileSync(path.join(CLIENT, "LICENSE"), "utf8"), /Apache License\s+Version 2\.0/);

    mkdirSync(project);
    writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    const started = Date.now();
    await run("npm", ["install", path.join(work, info!.filename), "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: project, maxBuffer: 16 << 20, timeout: 240_000 });
    t.diagnostic(`npm install of the tarball took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const lock = JSON.parse(readFileSync(path.join(project, "node_modules/.package-lock.json"), "utf8")) as { packages: Record<string, { hasInstallScript?: boolean }> };
    const installed = Object.keys(lock.packages).map((p) => p.replace(/^node_modules\//, "")).sort();
    assert.deepEqual(installed, INSTALLED);
    assert.ok(!Object.values(lock.packages).some((p) => p.hasInstallScript), "no install script (no native build)");

    writeFileSync(path.join(project, "app.mjs"), PROGRAM);
    const result = await run(process.execPath, ["app.mjs"], {
      cwd: project,
      timeout: 60_000,
      env: { PATH: process.env.PATH, SIGIL_GRPC_URL: server.grpcUrl, SIGIL_ADMIN_KEY: server.adminKey, SIGIL_VERIFIER_KEY: verifierKey },
    });
    assert.deepEqual(JSON.parse(result.stdout), {
      auth: "agent:pkg",
      adapters: ["function", "function", "function"],
      offline: ["read"],
      narrowedWrite: "INSUFFICIENT_SCOPE",
      // An optional peer dependency: absent until the service installs grpc-js.
      grpcJs: "ERR_MODULE_NOT_FOUND",
    });
  });

  it("type-checks the README's middleware snippets against the package and runs each against Sigil", async (t) => {
    assert.ok(existsSync(path.join(project, "node_modules/@sigil/client")), "installed by the previous test");
    // The service's own packages (the frameworks, their types): the repository's copies.
    for (const name of ["express", "fastify", "@grpc/grpc-js", "@types/express", "@types/node"]) {
      mkdirSync(path.dirname(path.join(project, "node_modules", name)), { recursive: true });
      symlinkSync(path.join(ROOT, "node_modules", name), path.join(project, "node_modules", name));
    }
    mkdirSync(path.join(project, "gen/billing/v1"), { recursive: true });
    writeFileSync(path.join(project, "gen/billing/v1/invoices_pb.ts"), billingGenCode());
    writeFileSync(path.join(project, "invoices-grpc.ts"), INVOICES_GRPC);
    const snippets = readmeTsBlocks("### Middleware for your services");
    const names = ["express", "fastify", "grpc-js", "connect"];
    assert.equal(snippets.length, names.length, "one snippet per middleware");
    snippets.forEach((code, i) => writeFileSync(path.join(project, `${names[i]}.ts`), code));
    const compilerOptions = { module: "nodenext", moduleResolution: "nodenext", target: "es2022", strict: true, skipLibCheck: true, types: ["node"], outDir: "out", rootDir: "." };
    writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify({ compilerOptions, include: ["*.ts", "gen"] }));
    const tsc = await run(process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: project }).catch((err: { stdout?: string }) => err);
    assert.ok(!("stdout" in tsc) || tsc.stdout === "", `tsc failed: ${"stdout" in tsc ? tsc.stdout : ""}`);
    // The older node10 resolution finds the subpaths through typesVersions; the @ts-expect-error proves the types are real.
    writeFileSync(
      path.join(project, "node10.ts"),
      `import type { SigilAuthOptions } from "@sigil/client";\nimport type { SigilExpressOptions } from "@sigil/client/express";\nimport type { SigilMethodOptions } from "@sigil/client/grpc-js";\n` +
        `export const options: SigilAuthOptions = { baseUrl: "http://127.0.0.1:4420" };\nexport const express: SigilExpressOptions = {};\n// @ts-expect-error misspelt option\nexport const methods: SigilMethodOptions = { scope: {} };\n`,
    );
    const node10 = { module: "esnext", moduleResolution: "node10", target: "es2022", strict: true, noEmit: true, skipLibCheck: true, types: ["node"] };
    writeFileSync(path.join(project, "tsconfig.node10.json"), JSON.stringify({ compilerOptions: node10, files: ["node10.ts"] }));
    const old = await run(process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.node10.json"], { cwd: project }).catch((err: { stdout?: string }) => err);
    assert.ok(!("stdout" in old) || old.stdout === "", `tsc (node10) failed: ${"stdout" in old ? old.stdout : ""}`);

    const { key, secret } = await admin.issueKey({ name: "caller", owner: "svc:shop", scopes: ["invoices:read"] });
    const grpcCall = (port: number, credential?: string) =>
      new Promise<{ code: grpc.status; owner?: string }>((resolve) => {
        const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
        const metadata = new grpc.Metadata();
        if (credential) metadata.set("authorization", `Bearer ${credential}`);
        client.makeUnaryRequest("/billing.v1.Invoices/List", (m: object) => Buffer.from(JSON.stringify(m)), (b: Buffer) => JSON.parse(b.toString()) as { owner: string }, {}, metadata, { deadline: Date.now() + 5000 }, (err, value) => {
          client.close();
          resolve(err ? { code: err.code } : { code: grpc.status.OK, owner: value!.owner });
        });
      });
    const httpCall = async (url: string, init: RequestInit, credential?: string) => {
      const res = await fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), ...(credential ? { authorization: `Bearer ${credential}` } : {}) } });
      return { status: res.status, body: (await res.json()) as { owner?: string; keyId?: string } };
    };
    // Each snippet's check: a valid key gets through with its identity, no credential does not.
    const checks: Record<string, (port: number) => Promise<void>> = {
      express: async (port) => {
        assert.deepEqual(await httpCall(`http://127.0.0.1:${port}/invoices`, {}, secret), { status: 200, body: { owner: "svc:shop", keyId: key!.keyId } });
        assert.equal((await httpCall(`http://127.0.0.1:${port}/invoices`, {})).status, 401);
      },
      fastify: async (port) => {
        assert.deepEqual(await httpCall(`http://127.0.0.1:${port}/invoices`, {}, secret), { status: 200, body: { owner: "svc:shop", keyId: key!.keyId } });
        assert.equal((await httpCall(`http://127.0.0.1:${port}/invoices`, {})).status, 401);
      },
      "grpc-js": async (port) => {
        assert.deepEqual(await grpcCall(port, secret), { code: grpc.status.OK, owner: "svc:shop" });
        assert.equal((await grpcCall(port)).code, grpc.status.UNAUTHENTICATED);
      },
      connect: async (port) => {
        const init = { method: "POST", headers: { "content-type": "application/json" }, body: "{}" };
        assert.deepEqual(await httpCall(`http://127.0.0.1:${port}/billing.v1.Invoices/List`, init, secret), { status: 200, body: { owner: "svc:shop" } });
        assert.equal((await httpCall(`http://127.0.0.1:${port}/billing.v1.Invoices/List`, init)).status, 401);
      },
    };
    for (const name of names) {
      const port = await freePort();
      const child = spawn(process.execPath, [`out/${name}.js`], {
        cwd: project,
        stdio: ["ignore", "ignore", "pipe"],
        env: { PATH: process.env.PATH, PORT: String(port), SIGIL_GRPC_URL: server.grpcUrl, SIGIL_VERIFIER_KEY: verifierKey },
      });
      children.push(child);
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      // Up once it answers; its first answers may still be refusals while SigilAuth connects.
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          await checks[name]!(port);
          break;
        } catch (err) {
          if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${name} snippet: ${String(err)}\n${stderr}`);
          await sleep(100);
        }
      }
      child.kill();
      t.diagnostic(`${name} snippet served`);
    }
  });
});
