import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { TokenFormat, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import type { TenantPolicySchema } from "../../clients/typescript/src/gen/sigil/v1/tenant_pb.js";
import { answerOf } from "../support/call-outcome.js";
import { runCli } from "../support/cli-process.js";
import { testDialect } from "../support/postgres.js";
import { startSigilProcess, type SigilProcess } from "../support/sigil-process.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const MINUTE = 60_000;
type PolicyInit = MessageInitShape<typeof TenantPolicySchema>;

describe(`tenant default rate limit and credits, and network boundary (${testDialect()})`, () => {
  let server: TestServer;
  let platform: SigilClient;
  let anon: SigilClient;
  const setPolicy = (tenantId: string, policy: PolicyInit) =>
    platform.updateTenant({ tenant: { tenantId, policy }, updateMask: create(FieldMaskSchema, { paths: ["policy"] }) });
  const reason = async (credential: string, clientIp: string) => VerifyReason[(await anon.verifyKey({ credential, clientIp })).reason];

  before(async () => {
    server = await startTestServer();
    platform = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    anon = createSigilClient({ baseUrl: server.grpcUrl });
  });
  after(() => server?.close());

  it("CreateTenant and UpdateTenant check the new policies with a key's bounds, naming the field", async () => {
    const create_ = (policy: PolicyInit) => answerOf(platform.createTenant({ tenantId: "bad-policy", policy }));
    assert.equal(await create_({ defaultRateLimit: { requests: 0, window: durationFromMs(MINUTE) } }), "InvalidArgument: policy.default_rate_limit.requests: must be 1 to 1000000");
    assert.match(await create_({ defaultRateLimit: { requests: 5, window: durationFromMs(500) } }), /^InvalidArgument: policy\.default_rate_limit\.window: must be between /);
    assert.equal(await create_({ defaultCredits: { remaining: -1n } }), "InvalidArgument: policy.default_credits.remaining: must be 0 to 1000000000000");
    assert.equal(await create_({ defaultCredits: { remaining: 5n, refillAmount: 5n } }), "InvalidArgument: policy.default_credits.refill_amount: needs refill_interval");
    assert.match(await create_({ allowedNetworks: ["10.1.2.3/8"] }), /^InvalidArgument: policy\.allowed_networks\[0\]: host bits are set; the network is 10\.0\.0\.0\/8$/);
    assert.match(await create_({ allowedNetworks: Array.from({ length: 65 }, (_, i) => `10.0.${i}.0/24`) }), /^InvalidArgument: policy\.allowed_networks: at most 64 networks/);
    await platform.createTenant({ tenantId: "ok-policy" });
    assert.match(await answerOf(setPolicy("ok-policy", { defaultRateLimit: { requests: 2_000_000, window: durationFromMs(MINUTE) } })), /^InvalidArgument: tenant\.policy\.default_rate_limit\.requests: /);
    // Stored and shown as given (canonical networks).
    await setPolicy("ok-policy", { allowedNetworks: ["10.0.0.0/8", "2001:db8::/32"], defaultRateLimit: { requests: 5, window: durationFromMs(MINUTE), burst: 7 }, defaultCredits: { remaining: 100n, refillAmount: 50n, refillInterval: durationFromMs(3_600_000) } });
    const shown = (await platform.getTenant({ tenantId: "ok-policy" })).tenant!.policy!;
    assert.deepEqual(shown.allowedNetworks, ["10.0.0.0/8", "2001:db8::/32"]);
    assert.deepEqual([shown.defaultRateLimit?.requests, shown.defaultRateLimit?.window?.seconds, shown.defaultRateLimit?.burst], [5, 60n, 7]);
    assert.deepEqual([shown.defaultCredits?.remaining, shown.defaultCredits?.refillAmount, shown.defaultCredits?.refillInterval?.seconds], [100n, 50n, 3600n]);
  });

  it("IssueKey, ImportKey and BatchImportKeys give a key that names none the tenant's defaults; its own stay; they are enforced", async () => {
    await platform.createTenant({ tenantId: "dflt", policy: { defaultRateLimit: { requests: 3, window: durationFromMs(3_600_000) }, defaultCredits: { remaining: 2n } } });
    const plain = await platform.issueKey({ tenantId: "dflt", name: "plain", owner: "svc" });
    assert.deepEqual([plain.key?.rateLimit?.requests, plain.key?.rateLimit?.burst, plain.key?.credits?.remaining], [3, 3, 2n], "the answer shows the applied defaults");
    const fetched = (await platform.getKey({ keyId: plain.key!.keyId })).key!;
    assert.deepEqual([fetched.rateLimit?.requests, fetched.credits?.remaining], [3, 2n], "stored");
    const [issued] = (await platform.listAuditEvents({ keyId: plain.key!.keyId, tenantId: "dflt" })).events;
    assert.deepEqual([issued?.details?.rate_limit, (issued?.details?.credits as { remaining?: number } | undefined)?.remaining], [{ requests: 3, window_seconds: 3600, burst: 3 }, 2], "the audit trail records the applied defaults");
    const own = await platform.issueKey({ tenantId: "dflt", name: "own", owner: "svc", rateLimit: { requests: 50, window: durationFromMs(MINUTE) } });
    assert.deepEqual([own.key?.rateLimit?.requests, own.key?.credits?.remaining], [50, 2n], "its own rate limit stays; credits defaulted");
    // Enforced on verification: 2 credits.
    const outcomes = [];
    for (let i = 0; i < 3; i++) outcomes.push(VerifyReason[(await anon.verifyKey({ credential: plain.secret })).reason]);
    assert.deepEqual(outcomes, ["VALID", "VALID", "USAGE_EXHAUSTED"]);
    // Other tenants are unaffected.
    const elsewhere = await platform.issueKey({ name: "default-tenant", owner: "svc" });
    assert.deepEqual([elsewhere.key?.rateLimit, elsewhere.key?.credits], [undefined, undefined]);

    const imported = await platform.importKey({ tenantId: "dflt", keyMaterial: { case: "rawKey", value: "legacy-default-key-0-0123456789" }, name: "imp", owner: "svc" });
    assert.deepEqual([imported.key?.rateLimit?.requests, imported.key?.credits?.remaining], [3, 2n]);
    const batch = await platform.batchImportKeys({
      requests: [
        { tenantId: "dflt", keyMaterial: { case: "rawKey", value: "legacy-default-key-1-0123456789" }, name: "b1", owner: "svc" },
        { tenantId: "dflt", keyMaterial: { case: "rawKey", value: "legacy-default-key-2-0123456789" }, name: "b2", owner: "svc", credits: { remaining: 9n } },
        { keyMaterial: { case: "rawKey", value: "legacy-default-key-3-0123456789" }, name: "b3", owner: "svc" },
      ],
    });
    const keys = batch.results.map((r) => (r.result.case === "key" ? r.result.value : undefined));
    assert.deepEqual(keys.map((k) => [k?.rateLimit?.requests, k?.credits?.remaining]), [[3, 2n], [3, 9n], [undefined, undefined]]);
    for (const k of keys) {
      const stored = (await platform.getKey({ keyId: k!.keyId })).key!;
      assert.deepEqual([stored.rateLimit?.requests, stored.credits?.remaining], [k!.rateLimit?.requests, k!.credits?.remaining]);
    }
  });

  it("network boundary: VerifyKey and BatchVerifyKeys pass a client inside the boundary and the key's own list, and refuse one outside either", async () => {
    await platform.createTenant({ tenantId: "edge", policy: { allowedNetworks: ["10.0.0.0/8"] } });
    const free = await platform.issueKey({ tenantId: "edge", name: "free", owner: "svc" });
    assert.equal(await reason(free.secret, "10.1.2.3"), "VALID");
    assert.equal(await reason(free.secret, "192.168.1.1"), "CLIENT_NETWORK_NOT_ALLOWED");
    assert.equal(VerifyReason[(await anon.verifyKey({ credential: free.secret })).reason], "CLIENT_NETWORK_NOT_ALLOWED", "no client address: not inside");
    assert.equal(await reason(free.secret, "::ffff:10.9.9.9"), "VALID", "IPv4-mapped IPv6");
    // The key's own list narrows; one outside the boundary is accepted but admits nobody outside it.
    const narrow = await platform.issueKey({ tenantId: "edge", name: "narrow", owner: "svc", allowedNetworks: ["10.1.0.0/16"] });
    assert.equal(await reason(narrow.secret, "10.1.2.3"), "VALID");
    assert.equal(await reason(narrow.secret, "10.2.0.1"), "CLIENT_NETWORK_NOT_ALLOWED");
    const wider = await platform.issueKey({ tenantId: "edge", name: "wider", owner: "svc", allowedNetworks: ["10.0.0.0/8", "192.168.0.0/16"] });
    assert.equal(await reason(wider.secret, "192.168.1.1"), "CLIENT_NETWORK_NOT_ALLOWED", "the key's list cannot widen the boundary");
    assert.equal(await reason(wider.secret, "10.0.0.1"), "VALID");
    const batch = await anon.batchVerifyKeys({ requests: [{ credential: free.secret, clientIp: "10.0.0.1" }, { credential: free.secret, clientIp: "172.16.0.1" }] });
    assert.deepEqual(batch.results.map((r) => VerifyReason[r.reason]), ["VALID", "CLIENT_NETWORK_NOT_ALLOWED"]);
    // Keys of other tenants are not bounded by it.
    const other = await platform.issueKey({ name: "other", owner: "svc" });
    assert.equal(await reason(other.secret, "192.168.1.1"), "VALID");
  });

  it("network boundary: derived JWTs and macaroons are refused outside it, and UpdateTenant's change applies at once", async () => {
    await platform.createTenant({ tenantId: "edge-tokens", policy: { allowedNetworks: ["10.0.0.0/8"] } });
    const parent = await platform.issueKey({ tenantId: "edge-tokens", name: "parent", owner: "agent", scopes: ["orders:read"] });
    const jwt = (await anon.deriveToken({ credential: parent.secret, ttl: durationFromMs(MINUTE) })).token;
    const macaroon = (await anon.deriveToken({ credential: parent.secret, ttl: durationFromMs(MINUTE), format: TokenFormat.MACAROON })).token;
    for (const token of [jwt, macaroon]) {
      assert.equal(await reason(token, "10.0.0.7"), "VALID");
      assert.equal(await reason(token, "203.0.113.9"), "CLIENT_NETWORK_NOT_ALLOWED");
    }
    await setPolicy("edge-tokens", { allowedNetworks: ["203.0.113.0/24"] });
    for (const token of [jwt, macaroon, parent.secret]) {
      assert.equal(await reason(token, "203.0.113.9"), "VALID", "the new boundary, before UpdateTenant returned");
      assert.equal(await reason(token, "10.0.0.7"), "CLIENT_NETWORK_NOT_ALLOWED");
    }
    await setPolicy("edge-tokens", {});
    assert.equal(await reason(jwt, "10.0.0.7"), "VALID", "no boundary: any network");
  });

  it("network boundary through forward auth (/v1/authorize): the same 403 as a key's own list", async () => {
    await platform.createTenant({ tenantId: "edge-http", policy: { allowedNetworks: ["10.0.0.0/8"] } });
    const key = await platform.issueKey({ tenantId: "edge-http", name: "http", owner: "svc" });
    const authorize = () => fetch(`${server.httpUrl}/v1/authorize`, { headers: { authorization: `Bearer ${key.secret}` } });
    const outside = await authorize();
    assert.equal(outside.status, 403);
    assert.equal(outside.headers.get("x-sigil-reason"), "client_network_not_allowed");
    assert.equal((await outside.json()).reason, "client_network_not_allowed");
    await setPolicy("edge-http", { allowedNetworks: ["127.0.0.0/8", "::1/128"] });
    const inside = await authorize();
    assert.equal(inside.status, 200, await inside.text());
    assert.equal(inside.headers.get("x-sigil-tenant-id"), "edge-http");
  });

  it("sigil tenants create|update take --network and --default-rate-limit/-burst, --default-credits/-refill; get shows them; update without one clears it, --clear-policy clears all; a bad value names its flag", async () => {
    const env = { SIGIL_SERVER: server.grpcUrl, SIGIL_ADMIN_KEY: server.adminKey };
    const policyOf = (stdout: string) => /^policy\s+(.*)$/m.exec(stdout)?.[1];
    const policyLine = async (tenantId: string) => policyOf((await runCli(["tenants", "get", tenantId], { env })).stdout);
    const created = await runCli(
      ["tenants", "create", "cli-edge", "--network", "10.0.0.0/8,2001:db8::/32", "--default-rate-limit", "5/1m", "--default-rate-burst", "7", "--default-credits", "100", "--default-credits-refill", "50/1h"],
      { env },
    );
    assert.equal(created.code, 0, created.stderr);
    const all = "allowed_networks=10.0.0.0/8,2001:db8::/32 default_rate_limit=5/1m default_rate_burst=7 default_credits=100 default_credits_refill=50/1h";
    assert.equal(policyOf(created.stdout), all, "create prints them");
    assert.equal(await policyLine("cli-edge"), all, "sigil tenants get reads them back");
    const stored = (await platform.getTenant({ tenantId: "cli-edge" })).tenant!.policy!;
    assert.deepEqual(stored.allowedNetworks, ["10.0.0.0/8", "2001:db8::/32"]);
    assert.deepEqual([stored.defaultRateLimit?.requests, stored.defaultRateLimit?.window?.seconds, stored.defaultRateLimit?.burst], [5, 60n, 7]);
    assert.deepEqual([stored.defaultCredits?.remaining, stored.defaultCredits?.refillAmount, stored.defaultCredits?.refillInterval?.seconds], [100n, 50n, 3600n]);
    // They are the tenant's policy: a new key gets the defaults, and the boundary holds.
    const key = await platform.issueKey({ tenantId: "cli-edge", name: "cli", owner: "svc" });
    assert.deepEqual([key.key?.rateLimit?.requests, key.key?.rateLimit?.burst, key.key?.credits?.remaining], [5, 7, 100n]);
    assert.equal(await reason(key.secret, "192.0.2.1"), "CLIENT_NETWORK_NOT_ALLOWED");
    assert.equal(await reason(key.secret, "10.1.2.3"), "VALID");

    // update replaces the policy with the one its flags give: what is not given is cleared.
    const updated = await runCli(["tenants", "update", "cli-edge", "--default-rate-limit", "10/1s"], { env });
    assert.equal(updated.code, 0, updated.stderr);
    assert.equal(await policyLine("cli-edge"), "default_rate_limit=10/1s", "boundary, burst and credits cleared");
    assert.equal(await reason(key.secret, "192.0.2.1"), "VALID", "the boundary is gone");
    const networksOnly = await runCli(["tenants", "update", "cli-edge", "--network", "203.0.113.0/24"], { env });
    assert.equal(networksOnly.code, 0, networksOnly.stderr);
    assert.equal(await policyLine("cli-edge"), "allowed_networks=203.0.113.0/24");
    const cleared = await runCli(["tenants", "update", "cli-edge", "--clear-policy"], { env });
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.equal(await policyLine("cli-edge"), "-");
    assert.equal((await platform.getTenant({ tenantId: "cli-edge" })).tenant?.policy, undefined);

    // Bad values: refused before anything is sent (exit 2), naming the flag.
    const refusals: Array<[string[], RegExp]> = [
      [["--network", "10.1.2.3/8"], /^sigil: --network: host bits are set; the network is 10\.0\.0\.0\/8\n/],
      [["--network", "not-a-network"], /^sigil: --network: /],
      [["--default-rate-limit", "fast"], /^sigil: --default-rate-limit must be <count>\/<duration>/],
      [["--default-rate-limit", "0/1s"], /^sigil: --default-rate-limit count must be 1 to 1000000\n/],
      [["--default-rate-burst", "3"], /^sigil: --default-rate-burst needs --default-rate-limit\n/],
      [["--default-credits", "lots"], /^sigil: --default-credits must be a whole number\n/],
      [["--default-credits-refill", "5"], /^sigil: --default-credits-refill must be <count>\/<duration>/],
      [["--default-credits-refill", "5/1ms"], /^sigil: --default-credits-refill interval must be /],
      [["--clear-policy", "--network", "10.0.0.0/8"], /^sigil: tenants update: give policy flags or --clear-policy, not both\n/],
    ];
    for (const [flags, expected] of refusals) {
      const run = await runCli(["tenants", "update", "cli-edge", ...flags], { env });
      assert.equal(run.code, 2, `${flags.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, expected, flags.join(" "));
    }
    const createRefused = await runCli(["tenants", "create", "cli-edge-2", "--default-rate-limit", "5/1m", "--default-rate-burst", "many"], { env });
    assert.equal(createRefused.code, 2);
    assert.match(createRefused.stderr, /^sigil: --default-rate-burst must be a whole number\n/);
    assert.equal((await platform.getTenant({ tenantId: "cli-edge" })).tenant?.policy, undefined, "no refused update changed the tenant");
    assert.match(await answerOf(platform.getTenant({ tenantId: "cli-edge-2" })), /^NotFound: /, "nor did a refused create make one");
  });
});

/** A real second `sigil serve` on the same database: it caches the boundary, and hears UpdateTenant through the change feed. */
describe(`tenant network boundary across two processes (${testDialect()})`, () => {
  let first: TestServer;
  let second: SigilProcess;
  let secondDir: string;
  before(async () => {
    first = await startTestServer();
    secondDir = mkdtempSync(path.join(tmpdir(), "sigil-second-"));
    second = startSigilProcess([], { ...first.joinEnv, SIGIL_DATA_DIR: secondDir, SIGIL_WORKERS: "1", SIGIL_LOG_LEVEL: "info" });
    await second.waitForListening(1);
  });
  after(async () => {
    await second?.stop();
    await first?.close();
    if (secondDir) rmSync(secondDir, { recursive: true, force: true });
  });

  it("a boundary set, changed and removed on one process reaches the other within the feed window", async () => {
    const [listening] = await second.waitForListening(1);
    const admin = createSigilClient({ baseUrl: first.grpcUrl, adminKey: first.adminKey });
    const viaSecond = createSigilClient({ baseUrl: listening!.grpcUrl });
    await admin.createTenant({ tenantId: "mp" });
    const key = await admin.issueKey({ tenantId: "mp", name: "k", owner: "svc", scopes: ["orders:read"] });
    const reasonOnSecond = async (clientIp: string) => VerifyReason[(await viaSecond.verifyKey({ credential: key.secret, clientIp })).reason];
    // Cached on the second process: no boundary.
    assert.equal(await reasonOnSecond("192.168.1.1"), "VALID");
    assert.equal(await reasonOnSecond("192.168.1.1"), "VALID");
    const until = async (clientIp: string, expected: string) => {
      const deadline = Date.now() + 15_000;
      let got = "";
      while (Date.now() < deadline) {
        got = await reasonOnSecond(clientIp);
        if (got === expected) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.fail(`the second process still answers ${got} from ${clientIp}`);
    };
    const setPolicy = (policy: PolicyInit) => admin.updateTenant({ tenant: { tenantId: "mp", policy }, updateMask: create(FieldMaskSchema, { paths: ["policy"] }) });
    await setPolicy({ allowedNetworks: ["10.0.0.0/8"] });
    await until("192.168.1.1", "CLIENT_NETWORK_NOT_ALLOWED");
    assert.equal(await reasonOnSecond("10.4.4.4"), "VALID");
    // A JWT derived from the key, verified by the second process, is refused outside too.
    const jwt = (await viaSecond.deriveToken({ credential: key.secret, ttl: durationFromMs(MINUTE) })).token;
    assert.equal(VerifyReason[(await viaSecond.verifyKey({ credential: jwt, clientIp: "192.168.1.1" })).reason], "CLIENT_NETWORK_NOT_ALLOWED");
    assert.equal(VerifyReason[(await viaSecond.verifyKey({ credential: jwt, clientIp: "10.4.4.4" })).reason], "VALID");
    await setPolicy({});
    await until("192.168.1.1", "VALID");
    // The display name alone changes no policy: nothing else is affected.
    const renamed = await admin.updateTenant({ tenant: { tenantId: "mp", displayName: "MP" }, updateMask: create(FieldMaskSchema, { paths: ["display_name"] }) });
    assert.equal(renamed.tenant?.displayName, "MP");
    assert.equal(await reasonOnSecond("192.168.1.1"), "VALID");
  });
});
