import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fromJsonString } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { formatApiKey, newKeyId } from "../../src/keys/api-key-format.js";
import { migrateTo, migrateToLatest } from "../../src/store/migrations.js";
import { openDatabase } from "../../src/store/open-database.js";
import { GetKeyUsageResponseSchema, TokenFormat, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { codeOf, errorOf } from "../support/call-outcome.js";
import { runCli, type CliRun } from "../support/cli-process.js";
import { createTestDatabase, testDialect } from "../support/postgres.js";
import { protocolClients } from "../support/protocol-clients.js";
import { startTestServer, type TestServer } from "../support/test-server.js";
import { recentRange, totals, UsageTally, waitForSeries } from "../support/usage-tally.js";

const MINUTE = 60_000;
const keyIdOf = (key: string) => key.split("_")[1]!;
const minutes = (n: number) => ({ seconds: BigInt(n * 60), nanos: 0 });

describe(`GetKeyUsage and sigil keys usage (${testDialect()})`, () => {
  let server: TestServer;
  let admin: SigilClient;
  let verifier: SigilClient;
  before(async () => {
    server = await startTestServer({ SIGIL_LAST_USE_FLUSH_INTERVAL: "100ms" });
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    verifier = createSigilClient({ baseUrl: server.grpcUrl });
  });
  after(() => server.close());

  it("counts VerifyKey outcomes of a key and its tokens under the key; DeriveToken and admin calls count nowhere", async () => {
    const issued = await admin.issueKey({ name: "agent", owner: "agent:1", scopes: ["read", "write"] });
    const keyId = issued.key!.keyId;
    const tally = new UsageTally();
    const verify = async (credential: string, counted: string | undefined, requiredScopes: string[] = []) => tally.add(counted, await verifier.verifyKey({ credential, requiredScopes }));
    for (let i = 0; i < 3; i++) await verify(issued.secret, keyId, ["read"]);
    await verify(issued.secret, keyId, ["admin"]);
    // Tokens count under the key they derive from; deriving them is not a verification.
    const jwt = (await verifier.deriveToken({ credential: issued.secret, scopes: ["read"] })).token;
    const macaroon = (await verifier.deriveToken({ credential: issued.secret, format: TokenFormat.MACAROON })).token;
    await verify(jwt, keyId, ["read"]);
    await verify(jwt, keyId, ["write"]);
    await verify(macaroon, keyId);
    await verify(formatApiKey("sgl", keyId).key, keyId);
    // Failures that name no existing key: unattributed.
    await verify("sgl_not_a_key", undefined);
    await verify(formatApiKey("sgl", newKeyId()).key, undefined);
    await verify(`${jwt.slice(0, -4)}AAAA`, undefined);
    assert.deepEqual(tally.of(keyId), { VALID: 5, INSUFFICIENT_SCOPE: 2, NOT_FOUND: 1 });
    assert.deepEqual(tally.unattributed, { MALFORMED: 1, NOT_FOUND: 1, BAD_SIGNATURE: 1 });

    const usage = await waitForSeries(admin, { keyId }, tally.of(keyId), server.now);
    await waitForSeries(admin, { unattributed: true }, tally.unattributed, server.now);
    // Every bucket of the range, oldest first, empty ones with zero counts.
    const start = Number(timestampMs(usage.startTime!));
    assert.equal(usage.keyId, keyId);
    assert.equal(usage.bucket!.seconds, 60n);
    assert.equal(start % MINUTE, 0);
    assert.equal(usage.buckets.length, (Number(timestampMs(usage.endTime!)) - start) / MINUTE);
    assert.ok(usage.buckets.length >= 61 && usage.buckets.length <= 62, String(usage.buckets.length));
    usage.buckets.forEach((b, i) => assert.equal(Number(timestampMs(b.startTime!)), start + i * MINUTE));
    const busy = usage.buckets.filter((b) => b.outcomes.length > 0);
    assert.ok(busy.length >= 1 && busy.length <= 2, "the calls fell into one minute, or two");
    assert.ok(usage.buckets.filter((b) => b.outcomes.length === 0).every((b) => b.validCount === 0n && b.failedCount === 0n));
    for (const b of busy) assert.deepEqual(b.outcomes.map((o) => o.reason), [...b.outcomes.map((o) => o.reason)].sort((x, y) => x - y));

    // Admin calls made with the admin key are not verifications: its series stays empty.
    assert.deepEqual(totals(await admin.getKeyUsage({ keyId: keyIdOf(server.adminKey), ...recentRange(server.now()) })), {});
    // Defaults: the last 24 hours, per hour.
    const daily = await admin.getKeyUsage({ keyId });
    assert.equal(daily.bucket!.seconds, 3600n);
    assert.ok(daily.buckets.length === 24 || daily.buckets.length === 25, String(daily.buckets.length));
    assert.deepEqual(totals(daily), tally.of(keyId));
  });

  it("refuses bad ranges and buckets with INVALID_ARGUMENT naming the field, on every protocol", async () => {
    const keyId = (await admin.issueKey({ name: "checked", owner: "svc:usage" })).key!.keyId;
    const now = server.now();
    const cases: Array<[Parameters<SigilClient["getKeyUsage"]>[0], RegExp]> = [
      [{ keyId, bucket: { seconds: 30n, nanos: 0 } }, /^bucket: must be between 1m \(60s\) and 366d/],
      [{ keyId, bucket: { seconds: 90n, nanos: 0 } }, /^bucket: must be a whole number of minutes/],
      [{ keyId, bucket: { seconds: 60n, nanos: 5 } }, /^bucket: must be a whole number of minutes/],
      [{ keyId, bucket: { seconds: 367n * 86_400n, nanos: 0 } }, /^bucket: must be between 1m \(60s\) and 366d/],
      [{ keyId, bucket: minutes(1), startTime: timestampFromMs(now - 2 * 86_400_000) }, /^bucket: the range holds 2881 buckets of 1m; at most 1440 per call/],
      [{ keyId, startTime: timestampFromMs(now), endTime: timestampFromMs(now - MINUTE) }, /^end_time: must be after start_time/],
      [{ keyId, endTime: { seconds: 253_402_300_799n, nanos: 0 }, bucket: { seconds: 86_400n, nanos: 0 } }, /^start_time: the range, rounded out to whole buckets, must lie within/],
      [{ keyId, startTime: { seconds: 1n, nanos: -1 } }, /^start_time: nanos must be between 0 and 999999999/],
      [{ keyId: "not-a-key-id" }, /^key_id: must be a 16-character base62 key id/],
      [{}, /^key_id: must be a 16-character base62 key id/],
      [{ keyId, unattributed: true }, /^key_id: must be empty when unattributed is set/],
    ];
    for (const [protocol, client] of protocolClients(server)) {
      for (const [request, message] of cases) {
        // A JSON client cannot even write a Timestamp with negative nanos.
        if (protocol === "connect json" && request.startTime?.nanos === -1) continue;
        const err = await errorOf(client.getKeyUsage(request));
        assert.equal(err.code, Code.InvalidArgument, `${protocol} ${JSON.stringify(request, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`);
        assert.match(err.rawMessage, message, protocol);
      }
    }
    // The widest answer allowed: exactly 1,440 buckets.
    const widest = await admin.getKeyUsage({ keyId, bucket: minutes(1), startTime: timestampFromMs(Math.floor(now / MINUTE) * MINUTE - 1439 * MINUTE), endTime: timestampFromMs(now) });
    assert.equal(widest.buckets.length, 1440);
  });

  it("is an admin call: unknown keys are NOT_FOUND, other callers UNAUTHENTICATED or PERMISSION_DENIED", async () => {
    assert.equal(await codeOf(admin.getKeyUsage({ keyId: newKeyId() })), Code.NotFound);
    assert.equal(await codeOf(verifier.getKeyUsage({ unattributed: true })), Code.Unauthenticated);
    const plain = await admin.issueKey({ name: "not an admin", owner: "svc:usage", scopes: ["read"] });
    const asPlain = createSigilClient({ baseUrl: server.grpcUrl, adminKey: plain.secret });
    assert.equal(await codeOf(asPlain.getKeyUsage({ keyId: plain.key!.keyId })), Code.PermissionDenied);
  });

  it("sigil keys usage prints a table with an ASCII chart, --json one GetKeyUsageResponse, and checks its flags", async () => {
    const issued = await admin.issueKey({ name: "charted", owner: "svc:usage", scopes: ["read"] });
    const keyId = issued.key!.keyId;
    for (let i = 0; i < 4; i++) await verifier.verifyKey({ credential: issued.secret });
    await verifier.verifyKey({ credential: issued.secret, requiredScopes: ["write"] });
    await waitForSeries(admin, { keyId }, { VALID: 4, INSUFFICIENT_SCOPE: 1 }, server.now);
    const workDir = mkdtempSync(path.join(tmpdir(), "sigil-usage-cli-"));
    const env = { SIGIL_SERVER: server.grpcUrl, SIGIL_ADMIN_KEY: server.adminKey };
    const cli = (args: string[]): Promise<CliRun> => runCli(["keys", "usage", ...args], { cwd: workDir, env });
    try {
      // The CLI runs on the real clock; the server's may be ahead (another test moved it): ask around it.
      const since = `${Math.ceil((Date.now() - server.now()) / MINUTE) + 30}m`;
      const text = await cli([keyId, "--since", since, "--bucket", "5m"]);
      assert.equal(text.code, 0, text.stderr);
      const lines = text.stdout.split("\n");
      assert.match(lines[0]!, new RegExp(`^verifications of key ${keyId} per 5m, \\S+Z to \\S+Z$`));
      assert.match(lines[1]!, /^valid {3}\|[ .:\-=+*#@]+\| {2}total 4$/);
      assert.match(lines[2]!, /^failed {2}\|[ .:\-=+*#@]+\| {2}total 1$/);
      assert.match(lines[4]!, /^START\s+VALID\s+FAILED\s+FAILURES$/);
      const busy = lines.filter((l) => /insufficient_scope=1/.test(l));
      assert.equal(busy.length, 1, text.stdout);
      assert.match(busy[0]!, /Z\s+4\s+1\s+insufficient_scope=1\s+#{32}x{8}$/);
      assert.doesNotMatch(text.stdout, /\x1b/, "no escape sequences when stdout is not a terminal");

      const json = await cli([keyId, "--since", since, "--bucket", "5m", "--json"]);
      assert.equal(json.code, 0, json.stderr);
      assert.equal(json.stdout.trim().split("\n").length, 1, "one JSON object");
      const parsed = fromJsonString(GetKeyUsageResponseSchema, json.stdout);
      assert.deepEqual(totals(parsed), { VALID: 4, INSUFFICIENT_SCOPE: 1 });
      const outcome = parsed.buckets.flatMap((b) => b.outcomes).find((o) => o.reason === VerifyReason.INSUFFICIENT_SCOPE);
      assert.equal(outcome?.count, 1n);

      const none = await cli(["--unattributed", "--since", since, "--no-color"]);
      assert.equal(none.code, 0, none.stderr);
      assert.match(none.stdout, /^verifications that named no key per 1h, /);

      for (const [args, message] of [
        [[keyId, "--bucket", "30s"], /^sigil: --bucket must be at least 1m$/],
        [[keyId, "--bucket", "90s"], /^sigil: --bucket must be a whole number of minutes/],
        [[keyId, "--since", "30d", "--bucket", "1m"], /^sigil: --bucket: the range holds \d+ buckets of 1m; at most 1440 per call/],
        [[keyId, "--since", "1h", "--until", "2h"], /^sigil: --until must be after start_time$/],
        [[keyId, "--unattributed"], /^sigil: keys usage: give a <key-id> or --unattributed, not both$/],
        [[], /^sigil: keys usage: expected one <key-id> \(or --unattributed\)$/],
        [["nope"], /^sigil: .*key id/],
      ] as Array<[string[], RegExp]>) {
        const run = await cli(args);
        assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
        assert.equal(run.stdout, "");
        assert.match(run.stderr.trim(), message, args.join(" "));
      }
      const missing = await cli([newKeyId()]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^sigil: NOT_FOUND: key \w{16} not found\n$/);
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  });
});

describe(`usage retention (${testDialect()})`, () => {
  it("the pruner drops minutes older than SIGIL_USAGE_RETENTION and keeps newer ones", async () => {
    const server = await startTestServer({ SIGIL_LAST_USE_FLUSH_INTERVAL: "100ms", SIGIL_USAGE_RETENTION: "30s" });
    try {
      const admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
      const issued = await admin.issueKey({ name: "aging", owner: "svc:usage" });
      const keyId = issued.key!.keyId;
      const firstMinute = Math.floor(server.now() / MINUTE) * MINUTE;
      await createSigilClient({ baseUrl: server.grpcUrl }).verifyKey({ credential: issued.secret });
      const range = { keyId, bucket: minutes(1), startTime: timestampFromMs(firstMinute - MINUTE), endTime: timestampFromMs(firstMinute + 3 * 3_600_000) };
      const counted = async () => (await admin.getKeyUsage(range)).buckets.filter((b) => b.validCount > 0n).map((b) => Number(timestampMs(b.startTime!)) - firstMinute);
      await until("the first verification to be flushed", async () => (await counted()).length === 1);
      // Two hours later (the server's clock): a new verification, and the first one is past the retention.
      server.advance(2 * 3_600_000);
      await createSigilClient({ baseUrl: server.grpcUrl }).verifyKey({ credential: issued.secret });
      // The pruner runs every 7.5 s at this retention (a quarter of it); the new minute is kept for 30 s after it ends.
      await until("the pruner to drop the old minute", async () => {
        const left = await counted();
        return left.length === 1 && left[0]! >= 2 * 3_600_000;
      }, 25_000);
    } finally {
      await server.close();
    }
  });
});

describe(`SIGIL_USAGE_ANALYTICS=off (${testDialect()})`, () => {
  it("counts nothing, and GetKeyUsage still answers (empty buckets)", async () => {
    const server = await startTestServer({ SIGIL_LAST_USE_FLUSH_INTERVAL: "100ms", SIGIL_USAGE_ANALYTICS: "off" });
    try {
      const admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
      const issued = await admin.issueKey({ name: "uncounted", owner: "svc:usage" });
      const verifier = createSigilClient({ baseUrl: server.grpcUrl });
      for (let i = 0; i < 3; i++) assert.equal((await verifier.verifyKey({ credential: issued.secret })).valid, true);
      await verifier.verifyKey({ credential: "sgl_nope" });
      // Five flush intervals: anything counted would have been written by now.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const usage = await admin.getKeyUsage({ keyId: issued.key!.keyId, ...recentRange(server.now()) });
      assert.equal(usage.buckets.length > 60, true);
      assert.deepEqual(totals(usage), {});
      assert.deepEqual(totals(await admin.getKeyUsage({ unattributed: true, ...recentRange(server.now()) })), {});
    } finally {
      await server.close();
    }
  });
});

describe(`migration 0007_key_usage (${testDialect()})`, () => {
  it("creates key_usage after 0006 and drops it on the way down", async () => {
    const database = testDialect() === "postgres" ? await createTestDatabase() : undefined;
    const { db, dialect } = openDatabase(database?.url ?? "sqlite::memory:");
    try {
      await migrateTo(db, dialect, "0006_issue_requests_actor");
      await migrateToLatest(db, dialect);
      await db.insertInto("key_usage").values({ key_id: "K", start_time: MINUTE, reason: VerifyReason.VALID, count: 2 }).execute();
      assert.equal(await codeOf(db.insertInto("key_usage").values({ key_id: "K", start_time: MINUTE, reason: VerifyReason.VALID, count: 1 }).execute()), Code.Unknown, "one row per key, minute and outcome");
      await migrateTo(db, dialect, "0006_issue_requests_actor");
      assert.equal(await codeOf(db.selectFrom("key_usage" as never).selectAll().execute()), Code.Unknown, "the table is gone");
    } finally {
      await db.destroy();
      await database?.drop();
    }
  });
});

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
