import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { VerifyReason, type VerifyKeyResponse } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { startSigilProcess, type SigilProcess } from "../support/sigil-process.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/**
 * Two Sigil processes on one database (one in this process, one a real `sigil serve` child), as with
 * `serve --workers 2` or two instances: credits are exact across them, and a rate limit holds per
 * process, so the pair admits at most twice the limit (the documented tolerance: P processes, P x limit).
 */
describe("usage controls across two processes on one database", () => {
  let first: TestServer;
  let second: SigilProcess;
  let secondDir: string;
  let admin: SigilClient;
  let viaFirst: SigilClient;
  let viaSecond: SigilClient;
  before(async () => {
    first = await startTestServer();
    secondDir = mkdtempSync(path.join(tmpdir(), "sigil-second-"));
    second = startSigilProcess([], { ...first.joinEnv, SIGIL_DATA_DIR: secondDir, SIGIL_WORKERS: "1", SIGIL_LOG_LEVEL: "info" });
    const [listening] = await second.waitForListening(1);
    admin = createSigilClient({ baseUrl: first.grpcUrl, adminKey: first.adminKey });
    viaFirst = createSigilClient({ baseUrl: first.grpcUrl });
    viaSecond = createSigilClient({ baseUrl: listening!.grpcUrl });
  });
  after(async () => {
    await second?.stop();
    await first?.close();
    if (secondDir) rmSync(secondDir, { recursive: true, force: true });
  });

  const hammer = (client: SigilClient, n: number, credential: string) => Promise.all(Array.from({ length: n }, () => client.verifyKey({ credential })));
  const valid = (results: VerifyKeyResponse[]) => results.filter((r) => r.valid).length;

  it("credits: 300 concurrent verifications split over both processes use exactly 200 credits, none twice", async () => {
    const issued = await admin.issueKey({ name: "metered", owner: "svc:multi", credits: { remaining: 200n } });
    const [a, b] = await Promise.all([hammer(viaFirst, 150, issued.secret), hammer(viaSecond, 150, issued.secret)]);
    const all = [...a, ...b];
    assert.equal(valid(all), 200);
    assert.ok(all.filter((r) => !r.valid).every((r) => r.reason === VerifyReason.USAGE_EXHAUSTED));
    assert.ok(valid(a) > 0 && valid(b) > 0, `both processes admitted some (${valid(a)} / ${valid(b)})`);
    // Each admitted call saw its own balance: the decrements interleaved across processes, none lost.
    const balances = all.filter((r) => r.valid).map((r) => Number(r.credits!.remaining)).sort((x, y) => x - y);
    assert.deepEqual(balances, Array.from({ length: 200 }, (_, i) => i));
    assert.equal((await admin.getKey({ keyId: issued.key!.keyId })).key!.credits!.remaining, 0n);
  });

  it("rate limit: each process admits exactly the limit, so the pair admits 2 x limit and no more", async () => {
    const limit = 20;
    const issued = await admin.issueKey({ name: "limited", owner: "svc:multi", rateLimit: { requests: limit, window: durationFromMs(3_600_000) } });
    const [a, b] = await Promise.all([hammer(viaFirst, 60, issued.secret), hammer(viaSecond, 60, issued.secret)]);
    assert.equal(valid(a), limit, "exact within one process");
    assert.equal(valid(b), limit, "exact within the other process");
    assert.ok(valid(a) + valid(b) <= 2 * limit, "at most P x limit in total");
    assert.ok([...a, ...b].filter((r) => !r.valid).every((r) => r.reason === VerifyReason.RATE_LIMITED));
  });

  it("a key disabled on one process stops verifying on the other within the change-feed window", async () => {
    const issued = await admin.issueKey({ name: "to disable", owner: "svc:multi" });
    assert.equal((await viaSecond.verifyKey({ credential: issued.secret })).valid, true);
    await admin.updateKey({ key: { keyId: issued.key!.keyId, enabled: false }, updateMask: { paths: ["enabled"] } });
    const start = Date.now();
    for (;;) {
      const r = await viaSecond.verifyKey({ credential: issued.secret });
      if (r.reason === VerifyReason.DISABLED) break;
      assert.ok(Date.now() - start < 5000, "the other process saw the change within 5 s");
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  });
});
