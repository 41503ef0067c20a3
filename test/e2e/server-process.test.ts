import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createSigilClient } from "../../clients/typescript/src/index.js";
import { TokenFormat, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { HealthCheckResponse_ServingStatus, Health } from "../../gen/grpc/health/v1/health_pb.js";
import { grpcJsCall, grpcJsClient } from "../support/grpc-js-call.js";
import { runCli, startServerProcess } from "../support/server-process.js";

const BUF = fileURLToPath(new URL("../../../node_modules/.bin/buf", import.meta.url));

describe("the sigil executable", () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), "sigil-proc-"));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it("bootstraps an admin key file (0600) whose key never reaches the log, serves reflection and health, and keeps everything across a restart", async () => {
    const first = await startServerProcess({ SIGIL_DATA_DIR: dataDir });
    const adminFile = path.join(dataDir, "admin.key");
    assert.equal(statSync(adminFile).mode & 0o777, 0o600);
    assert.equal(statSync(path.join(dataDir, "server-secret")).mode & 0o777, 0o600);
    const adminKey = readFileSync(adminFile, "utf8").trim();
    assert.ok(first.stdout().includes(adminFile), "the log names the file");
    assert.ok(!first.stdout().includes(adminKey), "the log never shows the key");

    // Reflection, as an operator would use it.
    const list = spawnSync(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-services", first.grpcUrl], { encoding: "utf8" });
    assert.equal(list.status, 0, list.stderr);
    assert.ok(list.stdout.split("\n").includes("sigil.v1.KeyService"), list.stdout);
    const call = spawnSync(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", '{"credential":"sgl_nope"}', `${first.grpcUrl}/sigil.v1.KeyService/VerifyKey`], { encoding: "utf8" });
    assert.equal(call.status, 0, call.stderr);
    assert.equal(JSON.parse(call.stdout).reason, "VERIFY_REASON_MALFORMED");

    const health = grpcJsClient(first.grpcUrl);
    const status = await grpcJsCall(health, Health.method.check, { service: "sigil.v1.KeyService" });
    assert.ok(status.ok && status.value.status === HealthCheckResponse_ServingStatus.SERVING);
    health.close();

    const admin = createSigilClient({ baseUrl: first.grpcUrl, adminKey });
    const anon = createSigilClient({ baseUrl: first.grpcUrl });
    const kept = await admin.issueKey({ name: "survivor", owner: "svc:a", scopes: ["read"] });
    const doomed = await admin.issueKey({ name: "doomed", owner: "svc:a" });
    const jwt = (await anon.deriveToken({ credential: kept.secret })).token;
    const macaroon = (await anon.deriveToken({ credential: kept.secret, format: TokenFormat.MACAROON })).token;
    await admin.revokeKey({ keyId: doomed.key!.keyId, reason: "test" });

    assert.equal(await first.stop("SIGTERM"), 0, "SIGTERM is a clean exit");
    assert.match(first.stdout(), /"sigil stopped"/);

    const second = await startServerProcess({ SIGIL_DATA_DIR: dataDir });
    try {
      assert.equal(readFileSync(adminFile, "utf8").trim(), adminKey, "no second bootstrap");
      const anon2 = createSigilClient({ baseUrl: second.grpcUrl });
      assert.equal((await anon2.verifyKey({ credential: kept.secret })).valid, true);
      assert.equal((await anon2.verifyKey({ credential: jwt })).valid, true, "the signing key survived");
      assert.equal((await anon2.verifyKey({ credential: macaroon })).valid, true, "the server secret survived");
      assert.equal((await anon2.verifyKey({ credential: doomed.secret })).reason, VerifyReason.REVOKED);
      const admin2 = createSigilClient({ baseUrl: second.grpcUrl, adminKey });
      assert.equal((await admin2.getKey({ keyId: kept.key!.keyId })).key!.name, "survivor");
    } finally {
      assert.equal(await second.stop("SIGINT"), 0);
    }
  });

  it("stops at start with one clear line naming a wrong setting", async () => {
    const r = await runCli(["serve"], { SIGIL_DATA_DIR: dataDir, SIGIL_TOKEN_MAX_TTL: "forever" });
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split("\n").length, 1);
    assert.match(r.stderr, /SIGIL_TOKEN_MAX_TTL \(--token-max-ttl\) must be a duration/);
    const flag = await runCli(["serve", "--grpc-addr", "nope"], { SIGIL_DATA_DIR: dataDir });
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /SIGIL_GRPC_ADDR \(--grpc-addr\) must be host:port/);
    const secret = await runCli(["serve"], { SIGIL_DATA_DIR: dataDir, SIGIL_SERVER_SECRET: "c2hvcnQ=" });
    assert.equal(secret.code, 2);
    assert.match(secret.stderr, /SIGIL_SERVER_SECRET .*at least 32 bytes/);
    assert.ok(!secret.stderr.includes("c2hvcnQ="), "the secret value is not echoed");
  });
});
