import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createSigilClient } from "../../clients/typescript/src/index.js";
import { CredentialKind, KeyService, TokenFormat, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { KeyStatus } from "../../clients/typescript/src/gen/sigil/v1/key_pb.js";
import { grpcJsCall, grpcJsClient } from "../support/grpc-js-call.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

/** The four operations of the lifecycle, as each protocol performs them. */
interface LifecycleOps {
  issue(scopes: string[]): Promise<{ keyId: string; secret: string }>;
  verify(credential: string, requiredScopes?: string[]): Promise<{ valid: boolean; reason: string; kind: string; keyId: string; scopes: string[] }>;
  derive(credential: string, scopes: string[]): Promise<string>;
  revoke(keyId: string): Promise<string>;
}

function connectOps(server: TestServer, protocol: "grpc" | "connect" | "grpc-web"): LifecycleOps {
  const baseUrl = protocol === "grpc" ? server.grpcUrl : server.httpUrl;
  const admin = createSigilClient({ baseUrl, protocol, adminKey: server.adminKey });
  const anon = createSigilClient({ baseUrl, protocol });
  return {
    async issue(scopes) {
      const r = await admin.issueKey({ name: `lifecycle ${protocol}`, owner: "svc:test", scopes });
      return { keyId: r.key!.keyId, secret: r.secret };
    },
    async verify(credential, requiredScopes = []) {
      const r = await anon.verifyKey({ credential, requiredScopes });
      return { valid: r.valid, reason: VerifyReason[r.reason], kind: CredentialKind[r.kind], keyId: r.keyId, scopes: r.scopes };
    },
    async derive(credential, scopes) {
      return (await anon.deriveToken({ credential, scopes, format: TokenFormat.JWT })).token;
    },
    async revoke(keyId) {
      return KeyStatus[(await admin.revokeKey({ keyId, reason: "lifecycle test" })).key!.status];
    },
  };
}

function grpcJsOps(server: TestServer): LifecycleOps {
  const client = grpcJsClient(server.grpcUrl);
  const auth = { authorization: `Bearer ${server.adminKey}` };
  const m = KeyService.method;
  const unwrap = <T>(r: { ok: true; value: T } | { ok: false; code: number; details: string }): T => {
    if (!r.ok) throw new Error(`gRPC status ${r.code}: ${r.details}`);
    return r.value;
  };
  return {
    async issue(scopes) {
      const r = unwrap(await grpcJsCall(client, m.issueKey, { name: "lifecycle grpc-js", owner: "svc:test", scopes }, auth));
      return { keyId: r.key!.keyId, secret: r.secret };
    },
    async verify(credential, requiredScopes = []) {
      const r = unwrap(await grpcJsCall(client, m.verifyKey, { credential, requiredScopes }));
      return { valid: r.valid, reason: VerifyReason[r.reason], kind: CredentialKind[r.kind], keyId: r.keyId, scopes: r.scopes };
    },
    async derive(credential, scopes) {
      return unwrap(await grpcJsCall(client, m.deriveToken, { credential, scopes })).token;
    },
    async revoke(keyId) {
      return KeyStatus[unwrap(await grpcJsCall(client, m.revokeKey, { keyId, reason: "lifecycle test" }, auth)).key!.status];
    },
  };
}

/** Connect JSON with nothing but fetch, as curl would send it. */
function fetchJsonOps(server: TestServer): LifecycleOps {
  const post = async (method: string, body: unknown, admin = false) => {
    const res = await fetch(`${server.httpUrl}/sigil.v1.KeyService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(admin ? { authorization: `Bearer ${server.adminKey}` } : {}) },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, any>;
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${JSON.stringify(json)}`);
    return json;
  };
  const strip = (s: string | undefined, prefix: string) => (s ?? "UNSPECIFIED").replace(prefix, "");
  return {
    async issue(scopes) {
      const r = await post("IssueKey", { name: "lifecycle json", owner: "svc:test", scopes }, true);
      return { keyId: r.key.keyId, secret: r.secret };
    },
    async verify(credential, requiredScopes = []) {
      const r = await post("VerifyKey", { credential, requiredScopes });
      return {
        valid: r.valid === true,
        reason: strip(r.reason, "VERIFY_REASON_"),
        kind: strip(r.kind, "CREDENTIAL_KIND_"),
        keyId: r.keyId ?? "",
        scopes: r.scopes ?? [],
      };
    },
    async derive(credential, scopes) {
      return (await post("DeriveToken", { credential, scopes, format: "TOKEN_FORMAT_JWT" })).token;
    },
    async revoke(keyId) {
      return strip((await post("RevokeKey", { keyId, reason: "lifecycle test" }, true)).key.status, "KEY_STATUS_");
    },
  };
}

describe("lifecycle over every protocol: issue, verify, derive, verify JWT, revoke", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  const protocols: Array<[string, (s: TestServer) => LifecycleOps]> = [
    ["gRPC via grpc-js", grpcJsOps],
    ["gRPC via Connect's gRPC transport", (s) => connectOps(s, "grpc")],
    ["Connect binary", (s) => connectOps(s, "connect")],
    ["gRPC-Web", (s) => connectOps(s, "grpc-web")],
    ["Connect JSON via fetch", fetchJsonOps],
  ];

  for (const [name, makeOps] of protocols) {
    it(name, async () => {
      const ops = makeOps(server);
      const { keyId, secret } = await ops.issue(["read", "write"]);
      assert.match(secret, new RegExp(`^sgl_${keyId}_[0-9A-Za-z]{49}$`));

      const valid = await ops.verify(secret, ["read"]);
      assert.deepEqual([valid.valid, valid.reason, valid.kind, valid.keyId], [true, "VALID", "API_KEY", keyId]);
      assert.deepEqual(valid.scopes, ["read", "write"]);

      const jwt = await ops.derive(secret, ["read"]);
      const jwtValid = await ops.verify(jwt, ["read"]);
      assert.deepEqual([jwtValid.valid, jwtValid.reason, jwtValid.kind, jwtValid.keyId], [true, "VALID", "JWT", keyId]);
      assert.deepEqual(jwtValid.scopes, ["read"]);
      const jwtNarrow = await ops.verify(jwt, ["write"]);
      assert.deepEqual([jwtNarrow.valid, jwtNarrow.reason], [false, "INSUFFICIENT_SCOPE"]);

      assert.equal(await ops.revoke(keyId), "REVOKED");
      const keyAfter = await ops.verify(secret);
      assert.deepEqual([keyAfter.valid, keyAfter.reason, keyAfter.kind], [false, "REVOKED", "API_KEY"]);
      const jwtAfter = await ops.verify(jwt);
      assert.deepEqual([jwtAfter.valid, jwtAfter.reason, jwtAfter.kind], [false, "REVOKED", "JWT"]);
      // Revoking again is not an error and answers the same.
      assert.equal(await ops.revoke(keyId), "REVOKED");
    });
  }
});
