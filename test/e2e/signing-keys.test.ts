import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { decodeProtectedHeader } from "jose";
import { createSigilClient, OfflineVerifier, TokenFormat, type SigilClient } from "../../clients/typescript/src/index.js";
import { AuditAction } from "../../clients/typescript/src/gen/sigil/v1/audit_pb.js";
import { VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import type { WatchRevocationsResponse } from "../../clients/typescript/src/gen/sigil/v1/revocation_pb.js";
import { SigningKeyState } from "../../clients/typescript/src/gen/sigil/v1/signing_key_pb.js";
import { codeOf } from "../support/call-outcome.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const kidOf = (token: string) => decodeProtectedHeader(token).kid!;
const HOUR = 3_600_000;
/** SIGIL_TOKEN_MAX_TTL (default 1 h) plus the 5-minute margin: how long a retired key stays published. */
const PUBLISH_WINDOW_MS = HOUR + 5 * 60_000;

describe("JWT signing keys: ListSigningKeys, RotateSigningKey, and what rotations do to tokens", () => {
  let server: TestServer;
  let admin: SigilClient;
  let anon: SigilClient;
  let parentKey: string;

  const jwt = async () => (await anon.deriveToken({ credential: parentKey, format: TokenFormat.JWT })).token;
  const reasonOf = async (token: string) => VerifyReason[(await anon.verifyKey({ credential: token })).reason];
  const jwksKids = async () => (await anon.getJwks({})).keys.map((k) => k.kid).sort();
  const httpJwksKids = async () =>
    ((await (await fetch(`${server.httpUrl}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).sort();
  const list = async () => (await admin.listSigningKeys({})).signingKeys;

  before(async () => {
    server = await startTestServer();
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    anon = createSigilClient({ baseUrl: server.grpcUrl });
    parentKey = (await admin.issueKey({ name: "parent", owner: "svc:signing", scopes: ["read"] })).secret;
  });
  after(async () => {
    await server.close();
  });

  it("only admins list and rotate signing keys", async () => {
    const holder = createSigilClient({ baseUrl: server.grpcUrl, adminKey: parentKey });
    assert.equal(await codeOf(anon.listSigningKeys({})), Code.Unauthenticated);
    assert.equal(await codeOf(anon.rotateSigningKey({})), Code.Unauthenticated);
    assert.equal(await codeOf(holder.listSigningKeys({})), Code.PermissionDenied);
    assert.equal(await codeOf(holder.rotateSigningKey({ retireNow: true })), Code.PermissionDenied);
    assert.equal(await codeOf(admin.listSigningKeys({ pageSize: -1 })), Code.InvalidArgument);
    assert.equal(await codeOf(admin.listSigningKeys({ pageToken: "bogus" })), Code.InvalidArgument);
    // Nothing changed: one active key.
    assert.deepEqual((await list()).map((k) => SigningKeyState[k.state]), ["ACTIVE"]);
  });

  it("a planned rotation: new tokens use the new key, old tokens keep verifying, both keys are published", async () => {
    const before = await jwt();
    const [old] = await list();
    assert.equal(kidOf(before), old!.kid);

    const rotated = await admin.rotateSigningKey({});
    const fresh = rotated.signingKey!;
    assert.equal(SigningKeyState[fresh.state], "ACTIVE");
    assert.notEqual(fresh.kid, old!.kid);
    assert.equal(fresh.algorithm, "EdDSA");
    const [replaced] = rotated.replacedSigningKeys;
    assert.equal(replaced?.kid, old!.kid);
    assert.equal(SigningKeyState[replaced!.state], "RETIRED");
    assert.equal(timestampMs(replaced!.expireTime!) - timestampMs(replaced!.retireTime!), PUBLISH_WINDOW_MS);

    const after = await jwt();
    assert.equal(kidOf(after), fresh.kid, "this process signs with the new key as soon as the call returns");
    assert.equal(await reasonOf(before), "VALID");
    assert.equal(await reasonOf(after), "VALID");
    assert.deepEqual(await jwksKids(), [old!.kid, fresh.kid].sort());
    assert.deepEqual(await httpJwksKids(), await jwksKids());
    assert.deepEqual((await list()).map((k) => [k.kid, SigningKeyState[k.state]]), [[fresh.kid, "ACTIVE"], [old!.kid, "RETIRED"]]);

    // The audit trail names the actor and the keys.
    const [event] = (await admin.listAuditEvents({ action: AuditAction.ROTATE_SIGNING_KEY })).events;
    assert.equal(event?.keyId, "");
    assert.ok(event?.actorKeyId);
    assert.deepEqual(event?.details, { kid: fresh.kid, retired_kids: [old!.kid], revoked_kids: [], retire_now: false, scheduled: false });
  });

  it("retire_now revokes the active key and every retired key still published: their tokens are REVOKED at once, cached or not", async () => {
    const keysBefore = await list();
    const published = keysBefore.filter((k) => k.state === SigningKeyState.ACTIVE || k.state === SigningKeyState.RETIRED).map((k) => k.kid);
    assert.equal(published.length, 2);
    const token = await jwt();
    // Verified once, so the verifier has cached it: the cache must not outlive the revocation.
    assert.equal(await reasonOf(token), "VALID");

    const rotated = await admin.rotateSigningKey({ retireNow: true });
    const fresh = rotated.signingKey!.kid;
    assert.deepEqual(rotated.replacedSigningKeys.map((k) => [k.kid, SigningKeyState[k.state]]).sort(), published.map((kid) => [kid, "REVOKED"]).sort());
    for (const k of rotated.replacedSigningKeys) assert.deepEqual(k.revokeTime, k.expireTime);

    assert.equal(await reasonOf(token), "REVOKED");
    const again = await jwt();
    assert.equal(kidOf(again), fresh);
    assert.equal(await reasonOf(again), "VALID");
    assert.deepEqual(await jwksKids(), [fresh]);
    assert.deepEqual(await httpJwksKids(), [fresh]);
    // API keys and macaroons do not depend on the signing keys.
    assert.equal(await reasonOf(parentKey), "VALID");
    assert.equal(await reasonOf((await anon.deriveToken({ credential: parentKey, format: TokenFormat.MACAROON })).token), "VALID");
  });

  it("WatchRevocations streams signing-key changes and replays them from a start time", async () => {
    const watcherKey = (await admin.issueKey({ name: "watcher", owner: "svc:watch", scopes: ["sigil:verify"] })).secret;
    const since = server.now() - 60_000;
    const abort = new AbortController();
    const stream = anon.watchRevocations({ start: { case: "startTime", value: timestampFromMs(since) } }, { signal: abort.signal, headers: { authorization: `Bearer ${watcherKey}` } });
    const it = stream[Symbol.asyncIterator]();
    const next = async (): Promise<WatchRevocationsResponse> => {
      const r = await Promise.race([it.next(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no response in 5 s")), 5000))]);
      if (r.done) throw new Error("stream ended");
      return r.value;
    };
    try {
      // The replay: every key created or revoked in the last minute (this test file's rotations).
      const replay = await next();
      const replayed = replay.signingKeyChanges.map((c) => SigningKeyState[c.state]);
      assert.ok(replayed.filter((s) => s === "ACTIVE").length >= 3, replayed.join(","));
      assert.equal(replayed.filter((s) => s === "REVOKED").length, 2, replayed.join(","));
      const active = (await list()).find((k) => k.state === SigningKeyState.ACTIVE)!;

      // A live rotation arrives in feed order: the retirement, then the new key. (Changes the replay
      // already reported may come again first: the stream's snapshot of the feed can lag it.)
      const { signingKey } = await admin.rotateSigningKey({});
      const live: Array<[string, string]> = [];
      while (!live.some(([kid]) => kid === signingKey!.kid)) {
        live.push(...(await next()).signingKeyChanges.map((c): [string, string] => [c.kid, SigningKeyState[c.state]]));
      }
      assert.deepEqual(live.slice(-2), [[active.kid, "RETIRED"], [signingKey!.kid, "ACTIVE"]]);
    } finally {
      abort.abort();
    }
  });

  it("an OfflineVerifier rejects tokens of a revoked signing key as soon as the stream delivers it, and fetches a new key at once", async () => {
    const verifyKey = (await admin.issueKey({ name: "offline", owner: "svc:offline", scopes: ["sigil:verify"] })).secret;
    // A long cooldown: without the stream's news the verifier would not refetch the JWKS for it.
    const verifier = new OfflineVerifier({ baseUrl: server.grpcUrl, credential: verifyKey, jwksRefetchCooldownMs: 3_600_000 });
    await verifier.start();
    try {
      const old = await jwt();
      assert.equal((await verifier.verify(old)).valid, true);
      const rotated = await admin.rotateSigningKey({});
      const next = await jwt();
      assert.equal(kidOf(next), rotated.signingKey!.kid);
      const deadline = Date.now() + 5000;
      let result = await verifier.verify(next);
      while (!result.valid && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
        result = await verifier.verify(next);
      }
      assert.equal(result.valid, true, `a token of the new key verifies offline without waiting for the cooldown: ${JSON.stringify(result)}`);
      assert.equal((await verifier.verify(old)).valid, true, "the retired key's token still verifies");

      await admin.rotateSigningKey({ retireNow: true });
      const start = Date.now();
      let oldResult = await verifier.verify(old);
      while (oldResult.valid && Date.now() - start < 5000) {
        await new Promise((r) => setTimeout(r, 10));
        oldResult = await verifier.verify(old);
      }
      assert.deepEqual(oldResult, { valid: false, reason: VerifyReason.REVOKED });
      assert.deepEqual(await verifier.verify(next), { valid: false, reason: VerifyReason.REVOKED });
      assert.ok(Date.now() - start < 2000, `rejected offline after ${Date.now() - start} ms`);
    } finally {
      await verifier.close();
    }
  });

  it("a retired key leaves the JWKS once its tokens have expired (retire time + max token TTL + 5 min)", async () => {
    const { replacedSigningKeys } = await admin.rotateSigningKey({});
    const retired = replacedSigningKeys[0]!.kid;
    assert.ok((await jwksKids()).includes(retired));
    server.advance(PUBLISH_WINDOW_MS - 60_000);
    assert.ok((await jwksKids()).includes(retired), "still published a minute before the end of its window");
    server.advance(60_000);
    assert.ok(!(await jwksKids()).includes(retired), "gone at the end of its window");
    assert.equal(SigningKeyState[(await list()).find((k) => k.kid === retired)!.state], "EXPIRED");
  });
});
