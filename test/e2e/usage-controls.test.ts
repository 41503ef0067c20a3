import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { durationFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { TokenFormat, VerifyReason, type IssueKeyRequest, type VerifyKeyResponse } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { codeOf, errorOf } from "../support/call-outcome.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const HOUR = 3_600_000;

function countReasons(results: VerifyKeyResponse[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of results) counts[VerifyReason[r.reason]] = (counts[VerifyReason[r.reason]] ?? 0) + 1;
  return counts;
}

describe("usage controls in VerifyKey: rate limits, credits, client networks (one process)", () => {
  let server: TestServer;
  let admin: SigilClient;
  let anon: SigilClient;
  const advance = (ms: number) => server.advance(ms);
  before(async () => {
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    anon = createSigilClient({ baseUrl: server.grpcUrl });
  });
  after(() => server.close());

  type UsageFields = Pick<Exclude<Parameters<SigilClient["issueKey"]>[0], IssueKeyRequest>, "rateLimit" | "credits" | "allowedNetworks">;
  const issue = async (fields: UsageFields) => {
    const r = await admin.issueKey({ name: "usage", owner: "svc:usage", scopes: ["read"], ...fields });
    return { keyId: r.key!.keyId, secret: r.secret, key: r.key! };
  };
  /** `n` verifications of one credential at once, on separate connections' worth of concurrency. */
  const burst = (n: number, credential: string, extra: { clientIp?: string; cost?: number; requiredScopes?: string[] } = {}) =>
    Promise.all(Array.from({ length: n }, () => anon.verifyKey({ credential, ...extra })));

  describe("rate limit", () => {
    it("lets exactly `burst` of 50 concurrent verifications through, reports remaining and reset, and refills", async () => {
      const { secret, key } = await issue({ rateLimit: { requests: 10, window: durationFromMs(HOUR) } });
      assert.deepEqual([key.rateLimit!.requests, key.rateLimit!.burst, Number(key.rateLimit!.window!.seconds)], [10, 10, 3600]);
      const results = await burst(50, secret);
      assert.deepEqual(countReasons(results), { VALID: 10, RATE_LIMITED: 40 });
      // Every admitted request saw its own bucket level: 9, 8, ..., 0 once each.
      const remaining = results.filter((r) => r.valid).map((r) => r.rateLimit!.remaining).sort((a, b) => a - b);
      assert.deepEqual(remaining, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const limited = results.find((r) => !r.valid)!;
      assert.deepEqual([limited.rateLimit!.limit, limited.rateLimit!.remaining], [10, 0]);
      const now = server.now();
      // One request comes back every 6 minutes; the whole bucket after an hour.
      assert.ok(Math.abs(timestampMs(limited.rateLimit!.retryTime!) - (now + HOUR / 10)) < 5000);
      assert.ok(Math.abs(timestampMs(limited.rateLimit!.resetTime!) - (now + HOUR)) < 5000);
      assert.equal(limited.owner, "", "a limited answer tells nothing about the key");

      advance(HOUR / 10 + 1000);
      assert.deepEqual(countReasons(await burst(5, secret)), { VALID: 1, RATE_LIMITED: 4 });
      advance(HOUR);
      assert.deepEqual(countReasons(await burst(12, secret)), { VALID: 10, RATE_LIMITED: 2 });
    });

    it("allows a burst above the steady rate, and shares the parent's bucket with derived tokens", async () => {
      const { secret } = await issue({ rateLimit: { requests: 60, window: durationFromMs(60_000), burst: 5 } });
      // Deriving is not a verification: it uses up nothing.
      const jwt = (await anon.deriveToken({ credential: secret })).token;
      const macaroon = (await anon.deriveToken({ credential: secret, format: TokenFormat.MACAROON })).token;
      const mixed = [secret, jwt, macaroon, secret, jwt, macaroon, secret, jwt];
      const results = await Promise.all(mixed.map((credential) => anon.verifyKey({ credential })));
      assert.deepEqual(countReasons(results), { VALID: 5, RATE_LIMITED: 3 });
      advance(2000);
      assert.deepEqual(countReasons(await burst(4, jwt)), { VALID: 2, RATE_LIMITED: 2 });
    });

    it("does not count requests that fail earlier checks, and restarts the bucket when UpdateKey changes the limit", async () => {
      const { keyId, secret } = await issue({ rateLimit: { requests: 3, window: durationFromMs(HOUR) } });
      assert.deepEqual(countReasons(await burst(5, secret, { requiredScopes: ["write"] })), { INSUFFICIENT_SCOPE: 5 });
      assert.deepEqual(countReasons(await burst(4, secret)), { VALID: 3, RATE_LIMITED: 1 });
      await admin.updateKey({ key: { keyId, rateLimit: { requests: 6, window: durationFromMs(HOUR) } }, updateMask: { paths: ["rate_limit"] } });
      assert.deepEqual(countReasons(await burst(8, secret)), { VALID: 6, RATE_LIMITED: 2 });
      await admin.updateKey({ key: { keyId }, updateMask: { paths: ["rate_limit"] } });
      const free = await burst(20, secret);
      assert.deepEqual(countReasons(free), { VALID: 20 });
      assert.equal(free[0]!.rateLimit, undefined);
    });
  });

  describe("usage credits", () => {
    it("decrements exactly once per successful verification under 150 concurrent calls", async () => {
      const { keyId, secret } = await issue({ credits: { remaining: 100n } });
      const results = await burst(150, secret);
      assert.deepEqual(countReasons(results), { VALID: 100, USAGE_EXHAUSTED: 50 });
      // No decrement lost or counted twice: each admitted call saw a distinct balance, 99 down to 0.
      const balances = results.filter((r) => r.valid).map((r) => Number(r.credits!.remaining)).sort((a, b) => a - b);
      assert.deepEqual(balances, Array.from({ length: 100 }, (_, i) => i));
      assert.ok(results.filter((r) => !r.valid).every((r) => r.credits!.remaining === 0n));
      assert.equal((await admin.getKey({ keyId })).key!.credits!.remaining, 0n);
    });

    it("takes the request's cost, refuses a cost above the balance without taking anything", async () => {
      const { keyId, secret } = await issue({ credits: { remaining: 10n } });
      const at = async (cost: number) => {
        const r = await anon.verifyKey({ credential: secret, cost });
        return [VerifyReason[r.reason], Number(r.credits!.remaining)];
      };
      assert.deepEqual(await at(4), ["VALID", 6]);
      assert.deepEqual(await at(4), ["VALID", 2]);
      assert.deepEqual(await at(4), ["USAGE_EXHAUSTED", 2]);
      assert.deepEqual(await at(0), ["VALID", 1], "cost 0 means 1");
      assert.deepEqual(await at(1), ["VALID", 0]);
      assert.equal(await codeOf(anon.verifyKey({ credential: secret, cost: 1_000_001 })), Code.InvalidArgument);
      // UpdateKey sets a new balance; clearing credits makes the key unmetered.
      await admin.updateKey({ key: { keyId, credits: { remaining: 2n } }, updateMask: { paths: ["credits"] } });
      assert.deepEqual(countReasons(await burst(3, secret)), { VALID: 2, USAGE_EXHAUSTED: 1 });
      await admin.updateKey({ key: { keyId }, updateMask: { paths: ["credits"] } });
      const unmetered = await anon.verifyKey({ credential: secret });
      assert.deepEqual([unmetered.valid, unmetered.credits], [true, undefined]);
    });

    it("refills to the refill amount every interval", async () => {
      const { keyId, secret } = await issue({ credits: { remaining: 3n, refillAmount: 5n, refillInterval: durationFromMs(60_000) } });
      assert.deepEqual(countReasons(await burst(4, secret)), { VALID: 3, USAGE_EXHAUSTED: 1 });
      const exhausted = await anon.verifyKey({ credential: secret });
      const nextRefill = timestampMs(exhausted.credits!.nextRefillTime!);
      assert.ok(Math.abs(nextRefill - (server.now() + 60_000)) < 5000);
      advance(61_000);
      assert.equal((await admin.getKey({ keyId })).key!.credits!.remaining, 5n, "GetKey counts a due refill");
      assert.deepEqual(countReasons(await burst(7, secret)), { VALID: 5, USAGE_EXHAUSTED: 2 });
      // Refills do not pile up over idle intervals: the balance is reset, not added to.
      advance(5 * 60_000);
      assert.deepEqual(countReasons(await burst(7, secret)), { VALID: 5, USAGE_EXHAUSTED: 2 });
    });

    it("charges derived tokens to the parent, and not failed or admin uses", async () => {
      const { keyId, secret } = await issue({ credits: { remaining: 3n } });
      const jwt = (await anon.deriveToken({ credential: secret })).token;
      assert.deepEqual(countReasons(await burst(2, secret, { requiredScopes: ["write"] })), { INSUFFICIENT_SCOPE: 2 });
      assert.deepEqual(countReasons(await burst(2, jwt)), { VALID: 2 });
      assert.equal((await admin.getKey({ keyId })).key!.credits!.remaining, 1n);
    });
  });

  describe("allowed client networks", () => {
    it("admits IPv4 and IPv6 clients inside the networks and rejects the rest with its own reason", async () => {
      const { secret, key } = await issue({ allowedNetworks: ["10.0.0.0/8", "2001:0db8:0:0::/32", "192.168.1.7", "fd00::1"] });
      assert.deepEqual(key.allowedNetworks, ["10.0.0.0/8", "2001:db8::/32", "192.168.1.7/32", "fd00::1/128"]);
      const cases: Array<[string, string]> = [
        ["10.1.2.3", "VALID"],
        ["10.255.255.255", "VALID"],
        ["11.0.0.1", "CLIENT_NETWORK_NOT_ALLOWED"],
        ["192.168.1.7", "VALID"],
        ["192.168.1.8", "CLIENT_NETWORK_NOT_ALLOWED"],
        ["2001:db8::1", "VALID"],
        ["2001:db8:ffff:1::42", "VALID"],
        ["2001:db9::1", "CLIENT_NETWORK_NOT_ALLOWED"],
        ["fd00::1", "VALID"],
        ["fd00::2", "CLIENT_NETWORK_NOT_ALLOWED"],
        // What a dual-stack server reports for an IPv4 client.
        ["::ffff:10.9.8.7", "VALID"],
        ["::ffff:11.9.8.7", "CLIENT_NETWORK_NOT_ALLOWED"],
        // No client address: a restricted key fails closed.
        ["", "CLIENT_NETWORK_NOT_ALLOWED"],
      ];
      for (const [clientIp, expected] of cases) {
        const r = await anon.verifyKey({ credential: secret, clientIp });
        assert.equal(VerifyReason[r.reason], expected, `client_ip "${clientIp}"`);
      }
    });

    it("makes derived JWTs and macaroons inherit the restriction", async () => {
      const { secret } = await issue({ allowedNetworks: ["203.0.113.0/24"] });
      for (const format of [TokenFormat.JWT, TokenFormat.MACAROON]) {
        const token = (await anon.deriveToken({ credential: secret, format })).token;
        assert.equal(VerifyReason[(await anon.verifyKey({ credential: token, clientIp: "203.0.113.9" })).reason], "VALID");
        assert.equal(VerifyReason[(await anon.verifyKey({ credential: token, clientIp: "198.51.100.9" })).reason], "CLIENT_NETWORK_NOT_ALLOWED");
      }
    });

    it("leaves unrestricted keys alone, can be changed by UpdateKey, and refuses bad input", async () => {
      const { keyId, secret } = await issue({});
      assert.equal((await anon.verifyKey({ credential: secret, clientIp: "198.51.100.1" })).valid, true);
      assert.equal((await anon.verifyKey({ credential: secret })).valid, true);
      await admin.updateKey({ key: { keyId, allowedNetworks: ["2001:db8::/48"] }, updateMask: { paths: ["allowed_networks"] } });
      assert.equal(VerifyReason[(await anon.verifyKey({ credential: secret, clientIp: "198.51.100.1" })).reason], "CLIENT_NETWORK_NOT_ALLOWED");
      assert.equal((await anon.verifyKey({ credential: secret, clientIp: "2001:db8:0:ffff::1" })).valid, true);

      const badIp = await errorOf(anon.verifyKey({ credential: secret, clientIp: "not-an-ip" }));
      assert.deepEqual([badIp.code, /client_ip/.test(badIp.rawMessage)], [Code.InvalidArgument, true]);
      const badCidr = await errorOf(issue({ allowedNetworks: ["10.0.0.0/8", "10.0.0.0/33"] }));
      assert.deepEqual([badCidr.code, /allowed_networks\[1\]/.test(badCidr.rawMessage)], [Code.InvalidArgument, true]);
      const tooMany = Array.from({ length: 65 }, (_, i) => `10.0.${i}.0/24`);
      assert.equal(await codeOf(issue({ allowedNetworks: tooMany })), Code.InvalidArgument);
    });
  });

  it("refuses out-of-bounds limits at issue with INVALID_ARGUMENT naming the field", async () => {
    const cases: Array<[UsageFields, RegExp]> = [
      [{ rateLimit: { requests: 0, window: durationFromMs(1000) } }, /rate_limit\.requests/],
      [{ rateLimit: { requests: 5 } }, /rate_limit\.window/],
      [{ rateLimit: { requests: 5, window: durationFromMs(10) } }, /rate_limit\.window/],
      [{ rateLimit: { requests: 5, window: durationFromMs(1000), burst: 2_000_000 } }, /rate_limit\.burst/],
      [{ credits: { remaining: -1n } }, /credits\.remaining/],
      [{ credits: { remaining: 10n, refillAmount: 5n } }, /credits\.refill_amount: needs refill_interval/],
      [{ credits: { remaining: 10n, refillInterval: durationFromMs(60_000) } }, /credits\.refill_amount/],
    ];
    for (const [fields, message] of cases) {
      const err = await errorOf(issue(fields));
      assert.equal(err.code, Code.InvalidArgument, String(message));
      assert.match(err.rawMessage, message);
    }
  });
});
