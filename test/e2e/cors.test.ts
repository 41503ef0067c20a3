import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestServer, type TestServer } from "../support/test-server.js";

const APP = "https://app.example.com";
const VERIFY = "/sigil.v1.KeyService/VerifyKey";
const LIST = "/sigil.v1.KeyService/ListKeys";

/** The preflight a browser sends before a Connect JSON call that carries an Authorization header. */
function preflight(server: TestServer, origin: string, path = LIST): Promise<Response> {
  return fetch(`${server.httpUrl}${path}`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization,connect-protocol-version,content-type",
    },
  });
}

/** The actual cross-origin Connect JSON call, with the headers a browser sends. */
function connectCall(server: TestServer, origin: string, path: string, body: unknown, authorization?: string): Promise<Response> {
  return fetch(`${server.httpUrl}${path}`, {
    method: "POST",
    headers: {
      origin,
      "content-type": "application/json",
      "connect-protocol-version": "1",
      "sec-fetch-mode": "cors",
      ...(authorization ? { authorization } : {}),
    },
    body: JSON.stringify(body),
  });
}

function headerList(res: Response, name: string): string[] {
  return (res.headers.get(name) ?? "").split(",").map((h) => h.trim().toLowerCase()).filter(Boolean);
}

describe("CORS on the HTTP listener", () => {
  let off: TestServer;
  let on: TestServer;
  before(async () => {
    off = await startTestServer();
    on = await startTestServer({ SIGIL_CORS_ORIGINS: `${APP}, http://localhost:5173` });
  });
  after(async () => {
    await on.close();
    await off.close();
  });

  it("is off by default: no CORS headers on a preflight or a call", async () => {
    const pre = await preflight(off, APP);
    assert.equal(pre.headers.get("access-control-allow-origin"), null);
    assert.notEqual(pre.status, 204);
    const res = await connectCall(off, APP, VERIFY, { credential: "sgl_nope" });
    assert.equal(res.status, 200, "same-origin style clients (curl) are unaffected");
    assert.equal(res.headers.get("access-control-allow-origin"), null);
  });

  it("answers a listed origin's preflight with connect's method and header lists plus Authorization", async () => {
    const res = await preflight(on, APP);
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), APP);
    assert.deepEqual(headerList(res, "access-control-allow-methods").sort(), ["get", "post"]);
    const allowed = headerList(res, "access-control-allow-headers");
    for (const h of ["content-type", "connect-protocol-version", "connect-timeout-ms", "x-grpc-web", "x-user-agent", "grpc-timeout", "authorization", "x-request-id", "traceparent", "tracestate"]) {
      assert.ok(allowed.includes(h), `${h} allowed: ${allowed.join(" ")}`);
    }
    assert.equal(res.headers.get("access-control-max-age"), "7200");
    assert.ok(headerList(res, "vary").includes("origin"));
    assert.equal(res.headers.get("access-control-allow-credentials"), null, "no credentials mode: bearer keys, not cookies");
    // Origins compare case-insensitively, as browsers serialize them in lower case anyway.
    assert.equal((await preflight(on, "http://LOCALHOST:5173")).status, 204);
  });

  it("lets a listed origin read a cross-origin Connect call (an admin call too) and its gRPC status headers", async () => {
    const verify = await connectCall(on, APP, VERIFY, { credential: "sgl_nope" });
    assert.equal(verify.status, 200);
    assert.equal(verify.headers.get("access-control-allow-origin"), APP);
    assert.ok(headerList(verify, "vary").includes("origin"));
    const exposed = headerList(verify, "access-control-expose-headers");
    for (const h of ["grpc-status", "grpc-message", "grpc-status-details-bin", "x-request-id"]) assert.ok(exposed.includes(h), `${h} exposed`);
    assert.match(verify.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/, "the call's request id");
    assert.equal(((await verify.json()) as { reason: string }).reason, "VERIFY_REASON_MALFORMED");

    const list = await connectCall(on, APP, LIST, {}, `Bearer ${on.adminKey}`);
    assert.equal(list.status, 200);
    assert.equal(list.headers.get("access-control-allow-origin"), APP);
    assert.ok(((await list.json()) as { keys: unknown[] }).keys.length >= 1);

    // An error answer is readable too (the browser client needs its code).
    const denied = await connectCall(on, APP, LIST, {});
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get("access-control-allow-origin"), APP);
  });

  it("lets a listed origin make a gRPC-Web call and read grpc-status", async () => {
    const json = Buffer.from(JSON.stringify({ credential: "sgl_nope" }));
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), json]);
    frame.writeUInt32BE(json.length, 1);
    const res = await fetch(`${on.httpUrl}${VERIFY}`, {
      method: "POST",
      headers: { origin: APP, "content-type": "application/grpc-web+json", "x-grpc-web": "1", "x-user-agent": "grpc-web-javascript/0.1" },
      body: frame,
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), APP);
    const body = Buffer.from(await res.arrayBuffer()).toString("latin1");
    assert.match(body, /VERIFY_REASON_MALFORMED/);
    assert.match(body, /grpc-status: ?0/);
  });

  it("gives an unlisted origin nothing to read: its preflight is refused and its calls carry no CORS headers", async () => {
    const pre = await preflight(on, "https://evil.example.net");
    assert.equal(pre.status, 403);
    assert.equal(pre.headers.get("access-control-allow-origin"), null);
    const res = await connectCall(on, "https://evil.example.net", VERIFY, { credential: "sgl_nope" });
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.ok(headerList(res, "vary").includes("origin"));
    // JWKS and health are readable by listed origins too (a browser verifier fetches the JWKS).
    const jwks = await fetch(`${on.httpUrl}/.well-known/jwks.json`, { headers: { origin: APP } });
    assert.equal(jwks.headers.get("access-control-allow-origin"), APP);
  });
});
