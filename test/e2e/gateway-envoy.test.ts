import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { check, envoyChecks, headersOf } from "../support/envoy-check.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

describe("Envoy ext_authz Check on the gRPC listener (grpcio client from proto/envoy)", () => {
  let server: TestServer;
  let admin: SigilClient;
  let target: string;
  before(async () => {
    // Every call logged: allowed checks are at debug by default (a gateway's hot path), and this test reads their lines.
    server = await startTestServer({ SIGIL_AUTH_HEADER: "X-API-Key", SIGIL_TRUSTED_PROXIES: "10.9.0.0/16", SIGIL_ACCESS_LOG: "all" });
    admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
    target = `127.0.0.1:${server.app.grpcPort}`;
  });
  after(() => server.close());

  const issue = async (fields: Record<string, unknown> = {}) => {
    const r = await admin.issueKey({ name: "envoy", owner: "svc:orders", scopes: ["read"], ...fields });
    return { keyId: r.key!.keyId, secret: r.secret };
  };

  it("answers every outcome of item 1: OK with identity headers, 401, 403, 429, 400", async () => {
    const { keyId, secret } = await issue();
    const jwt = await createSigilClient({ baseUrl: server.grpcUrl }).deriveToken({ credential: secret, audience: "orders-api" });
    const { secret: limitedKey } = await issue({ rateLimit: { requests: 1, window: durationFromMs(60_000) } });
    const { secret: networked } = await issue({ allowedNetworks: ["203.0.113.0/24"] });
    const bearer = { authorization: `Bearer ${secret}` };
    const { answers } = await envoyChecks(target, [
      /* 0 */ check(bearer),
      /* 1 */ check({ authorization: `Bearer ${jwt.token}` }, { contextExtensions: { "x-sigil-audience": "orders-api" } }),
      /* 2 */ check({}),
      /* 3 */ check({ authorization: `Bearer ${secret.slice(0, -4)}AAAA` }),
      /* 4 */ check(bearer, { path: "/api/orders?scope=write" }),
      /* 5 */ check(bearer, { contextExtensions: { "x-sigil-required-scopes": "read admin" } }),
      /* 6 */ check({ authorization: `Bearer ${limitedKey}` }),
      /* 7 */ check({ authorization: `Bearer ${limitedKey}` }),
      /* 8 */ check(bearer, { path: "/api/orders?scope=%zz" }),
      /* 9 */ check({ "x-api-key": secret }, { rawHeaders: true }),
      /* 10 */ check({ authorization: `Bearer ${networked}` }, { source: "203.0.113.7" }),
      /* 11 */ check({ authorization: `Bearer ${networked}` }, { source: "198.51.100.7" }),
      /* 12 */ check({ authorization: `Bearer ${networked}`, "x-forwarded-for": "203.0.113.9, 10.9.0.2" }, { source: "10.9.0.1" }),
      /* 13 */ check({ authorization: `Bearer ${networked}`, "x-forwarded-for": "203.0.113.9" }, { source: "198.51.100.7" }),
    ]);
    for (const [i, a] of answers.entries()) assert.equal(a.code, 0, `Check ${i} is answered, not failed: ${a.details}`);
    const ok = answers[0]!.response!;
    assert.equal(ok.status?.code ?? 0, 0);
    const identity = headersOf(ok.ok_response?.headers);
    assert.deepEqual(identity, { "x-sigil-key-id": keyId, "x-sigil-owner": "svc:orders", "x-sigil-scopes": "read", "x-sigil-credential-kind": "api_key", "x-sigil-tenant-id": "default" });
    assert.ok(ok.ok_response!.headers!.every((h) => h.append_action === "OVERWRITE_IF_EXISTS_OR_ADD"), "identity headers overwrite the client's");
    assert.deepEqual(ok.ok_response!.headers_to_remove?.sort(), ["x-sigil-parent-key-id", "x-sigil-token-id"], "the identity headers not set are removed");

    const derived = headersOf(answers[1]!.response!.ok_response?.headers);
    assert.deepEqual([derived["x-sigil-credential-kind"], derived["x-sigil-parent-key-id"], derived["x-sigil-token-id"]], ["jwt", keyId, jwt.tokenId]);

    const denied = (i: number) => {
      const r = answers[i]!.response!;
      assert.equal(r.ok_response, undefined, `Check ${i} is denied`);
      return { grpc: r.status?.code, http: r.denied_response?.status?.code, headers: headersOf(r.denied_response?.headers), body: JSON.parse(r.denied_response?.body ?? "{}") };
    };
    const missing = denied(2);
    assert.deepEqual([missing.grpc, missing.http, missing.headers["www-authenticate"]], [16, "Unauthorized", 'Bearer realm="sigil"']);
    const unknown = denied(3);
    assert.deepEqual([unknown.grpc, unknown.http], [16, "Unauthorized"]);
    assert.match(unknown.body.reason, /^(not_found|malformed)$/, "a changed checksum or an unknown key");
    assert.match(unknown.headers["www-authenticate"]!, /error="invalid_token"/);
    for (const i of [4, 5]) {
      const scope = denied(i);
      assert.deepEqual([scope.grpc, scope.http, scope.headers["x-sigil-reason"]], [7, "Forbidden", "insufficient_scope"], `Check ${i}`);
    }
    assert.ok(answers[6]!.response!.ok_response, "the first call of the limited key passes");
    assert.equal(headersOf(answers[6]!.response!.ok_response!.response_headers_to_add)["ratelimit-policy"], '"rate";q=1;w=60', "the client gets the rate-limit headers");
    const limited = denied(7);
    assert.deepEqual([limited.grpc, limited.http, limited.headers["x-sigil-reason"]], [8, "TooManyRequests", "rate_limited"]);
    assert.ok(Number(limited.headers["retry-after"]) >= 1);
    assert.match(limited.headers["ratelimit"]!, /^"rate";r=0;t=\d+$/);
    const bad = denied(8);
    assert.deepEqual([bad.grpc, bad.http, bad.headers["x-sigil-error"]], [3, "BadRequest", "scope: not valid percent-encoding"]);
    assert.equal(headersOf(answers[9]!.response!.ok_response?.headers)["x-sigil-key-id"], keyId, "SIGIL_AUTH_HEADER, from header_map (encode_raw_headers)");
    assert.ok(answers[10]!.response!.ok_response, "Envoy's source address is the client address");
    assert.equal(denied(11).headers["x-sigil-reason"], "client_network_not_allowed");
    assert.ok(answers[12]!.response!.ok_response, "X-Forwarded-For is believed from a trusted proxy");
    assert.equal(denied(13).headers["x-sigil-reason"], "client_network_not_allowed", "and from no one else");

    const everything = JSON.stringify(answers) + server.logs.join("\n");
    for (const credential of [secret, jwt.token, limitedKey, networked]) assert.ok(!everything.includes(credential), "no answer or log line repeats a credential");
    assert.ok(server.logs.some((l) => l.includes('"envoy.service.auth.v3.Authorization/Check"') && l.includes(`"keyId":"${keyId}"`)), "Check is logged like a call");
  });

  it("answers a request that is not a CheckRequest, or one with too many headers, with INVALID_ARGUMENT", async () => {
    const headers = Object.fromEntries(Array.from({ length: 1100 }, (_, i) => [`x-h${i}`, "v"]));
    const { answers, raw } = await envoyChecks(target, [check(headers)], [Buffer.from([0xff, 0xff, 0xff])]);
    assert.deepEqual(raw.map((r) => r.code), [3]);
    assert.match(raw[0]!.details!, /not a valid envoy.service.auth.v3.CheckRequest/);
    // Too many headers is the gateway's bad input: a 400 for the client, not a failed call.
    assert.equal(answers[0]!.response?.denied_response?.status?.code, "BadRequest");
  });

  it("is served by a verify instance (SIGIL_MODE=verify), with the same answers", async () => {
    const verify = await startTestServer({ SIGIL_MODE: "verify" }, { join: server });
    try {
      const { keyId, secret } = await issue();
      const { answers } = await envoyChecks(`127.0.0.1:${verify.app.grpcPort}`, [check({ authorization: `Bearer ${secret}` }), check({})]);
      assert.equal(headersOf(answers[0]!.response?.ok_response?.headers)["x-sigil-key-id"], keyId);
      assert.equal(answers[1]!.response?.denied_response?.status?.code, "Unauthorized");
    } finally {
      await verify.close();
    }
  });
});
