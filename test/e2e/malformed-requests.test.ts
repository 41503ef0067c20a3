import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { grpcJsClient, grpcJsRawCall } from "../support/grpc-js-call.js";
import { createTestPki, type TestPki } from "../support/test-pki.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const VERIFY_PATH = "/sigil.v1.KeyService/VerifyKey";
/** A field 1 (credential, length-delimited) claiming 255 bytes, then nothing: "premature EOF". */
const MALFORMED = Buffer.from([0x0a, 0xff]);
const INVALID = "request is not a valid sigil.v1.VerifyKeyRequest message";

function envelope(payload: Buffer, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** One HTTP/1.1 exchange on a fresh socket; the whole response as latin1 text. */
function http1(port: number, contentType: string, body: Buffer, extraHeaders = "", path = VERIFY_PATH): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let text = "";
    socket.on("data", (d) => {
      text += d.toString("latin1");
      // A complete answer: a body of content-length bytes, or the last chunk (with trailers).
      const split = text.indexOf("\r\n\r\n");
      if (split < 0) return;
      const head = text.slice(0, split);
      const rest = text.slice(split + 4);
      const length = /content-length: (\d+)/i.exec(head)?.[1];
      if ((length !== undefined && Buffer.byteLength(rest, "latin1") >= Number(length)) || /(^|\r\n)0\r\n([\s\S]*\r\n)?\r\n$/.test(rest)) {
        socket.end();
        resolve(text);
      }
    });
    socket.on("error", reject);
    socket.write(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: ${contentType}\r\ncontent-length: ${body.length}\r\n${extraHeaders}\r\n`);
    socket.write(body);
  });
}

function lastCallLine(server: TestServer, protocol: string): Record<string, unknown> | undefined {
  return server.logs
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === "call" && l.method === "sigil.v1.KeyService/VerifyKey" && l.protocol === protocol)
    .at(-1);
}

describe("malformed request bodies answer INVALID_ARGUMENT on every protocol, and are logged (issue 9 item 6)", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  const cases: Array<[string, string, Buffer, RegExp]> = [
    ["Connect binary", "application/proto", MALFORMED, /^HTTP\/1\.1 400 [\s\S]*"code":"invalid_argument"/],
    ["Connect binary, truncated varint", "application/proto", Buffer.from([0x28, 0xff]), /^HTTP\/1\.1 400 [\s\S]*"code":"invalid_argument"/],
    ["Connect JSON, not JSON", "application/json", Buffer.from('{"credential":'), /^HTTP\/1\.1 400 [\s\S]*"code":"invalid_argument"/],
    ["Connect JSON, a wrong type", "application/json", Buffer.from('{"credential":5}'), /^HTTP\/1\.1 400 [\s\S]*"code":"invalid_argument"/],
    ["gRPC-Web", "application/grpc-web+proto", envelope(MALFORMED), /grpc-status: ?3/],
    ["gRPC-Web, a truncated envelope", "application/grpc-web+proto", envelope(Buffer.alloc(10)).subarray(0, 8), /grpc-status: ?3/],
    ["gRPC through connect-node (HTTP/1.1)", "application/grpc", envelope(MALFORMED), /grpc-status: ?3/],
  ];
  for (const [name, type, body, expected] of cases) {
    it(name, async () => {
      const before = server.logs.length;
      const answer = await http1(server.app.httpPort, type, body, type.startsWith("application/grpc") ? "te: trailers\r\n" : "");
      assert.match(answer, expected);
      assert.doesNotMatch(answer, /internal|parse binary|premature EOF/i);
      if (!/truncated envelope/.test(name)) assert.ok(answer.includes(INVALID) || answer.includes(encodeURIComponent(INVALID)), answer);
      const logged = server.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "call");
      assert.equal(logged?.code, "INVALID_ARGUMENT", `logged: ${JSON.stringify(logged)}`);
      assert.equal(logged?.method, "sigil.v1.KeyService/VerifyKey");
    });
  }

  it("Connect streaming (server-streaming WatchRevocations)", async () => {
    const before = server.logs.length;
    const answer = await http1(server.app.httpPort, "application/connect+proto", envelope(MALFORMED), "", "/sigil.v1.KeyService/WatchRevocations");
    assert.match(answer, /"code":"invalid_argument"/);
    assert.match(answer, /request is not a valid sigil\.v1\.WatchRevocationsRequest message/);
    const logged = server.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "call");
    assert.equal(logged?.code, "INVALID_ARGUMENT");
  });

  it("Connect binary, gzip-compressed", async () => {
    const before = server.logs.length;
    const answer = await http1(server.app.httpPort, "application/proto", gzipSync(MALFORMED), "content-encoding: gzip\r\n");
    assert.match(answer, /^HTTP\/1\.1 400 [\s\S]*"code":"invalid_argument"/);
    const logged = server.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "call");
    assert.equal(logged?.code, "INVALID_ARGUMENT");
    // Not gzip at all, though it says so.
    assert.match(await http1(server.app.httpPort, "application/proto", MALFORMED, "content-encoding: gzip\r\n"), /"code":"invalid_argument"/);
  });

  it("the gRPC listener answers the same bytes INVALID_ARGUMENT", async () => {
    const client = grpcJsClient(server.grpcUrl);
    const r = await grpcJsRawCall(client, VERIFY_PATH, MALFORMED);
    client.close();
    assert.equal(grpc.status[r.code], "INVALID_ARGUMENT");
    assert.equal(lastCallLine(server, "grpc")?.code, "INVALID_ARGUMENT");
  });

  it("bounds the health service's service name and answers every size", async () => {
    const client = grpcJsClient(server.grpcUrl);
    const check = (name: string) => {
      const body = Buffer.concat([Buffer.from([0x0a]), varint(Buffer.byteLength(name)), Buffer.from(name)]);
      return grpcJsRawCall(client, "/grpc.health.v1.Health/Check", body);
    };
    const started = Date.now();
    const huge = await check("s".repeat(1_000_000));
    assert.equal(grpc.status[huge.code], "RESOURCE_EXHAUSTED", huge.details);
    assert.ok(Date.now() - started < 3000);
    assert.equal(grpc.status[(await check("s".repeat(900))).code], "NOT_FOUND");
    assert.equal(grpc.status[(await check("")).code], "OK");
    client.close();
  });

  it("is still healthy afterwards", async () => {
    const res = await fetch(`${server.httpUrl}/healthz`);
    assert.equal(res.status, 200);
  });
});

describe("malformed gRPC through connect-node over HTTP/2 (TLS)", () => {
  let pki: TestPki;
  let server: TestServer;
  before(async () => {
    pki = createTestPki();
    server = await startTestServer({ SIGIL_TLS_CERT_FILE: pki.server.cert, SIGIL_TLS_KEY_FILE: pki.server.key });
  });
  after(async () => {
    await server.close();
    pki.remove();
  });

  it("answers INVALID_ARGUMENT in the trailers and logs the call", async () => {
    const session = http2.connect(`https://127.0.0.1:${server.app.httpPort}`, { ca: readFileSync(pki.caFile) });
    const status = await new Promise<string | undefined>((resolve, reject) => {
      const stream = session.request({ ":method": "POST", ":path": VERIFY_PATH, "content-type": "application/grpc", te: "trailers" });
      let code: string | undefined;
      stream.on("response", (h) => (code ??= h["grpc-status"] as string | undefined));
      stream.on("trailers", (h) => (code ??= h["grpc-status"] as string | undefined));
      stream.on("error", reject);
      stream.on("close", () => resolve(code));
      stream.resume();
      stream.end(envelope(MALFORMED));
    });
    session.close();
    assert.equal(status, "3");
    assert.equal(lastCallLine(server, "grpc")?.code, "INVALID_ARGUMENT");
  });
});

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}
