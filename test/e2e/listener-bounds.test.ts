import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { toBinary, create } from "@bufbuild/protobuf";
import { createSigilClient } from "../../clients/typescript/src/index.js";
import { KeyService, VerifyKeyRequestSchema } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { grpcJsCall, grpcJsClient } from "../support/grpc-js-call.js";
import { serverSocketStates } from "../support/tcp-states.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

const VERIFY_PATH = "/sigil.v1.KeyService/VerifyKey";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** A gRPC length prefix (uncompressed) declaring `size` bytes. */
function prefix(size: number): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(size, 1);
  return b;
}

/** A framed VerifyKey request. */
function verifyMessage(credential: string): Buffer {
  const body = Buffer.from(toBinary(VerifyKeyRequestSchema, create(VerifyKeyRequestSchema, { credential })));
  return Buffer.concat([prefix(body.length), body]);
}

interface RawAnswer {
  readonly grpcStatus?: string;
  readonly grpcMessage?: string;
  readonly rstCode?: number;
  readonly ms: number;
}

/** One gRPC call on a raw HTTP/2 session: headers, then `body` (not ended unless `end`). */
function rawCall(session: http2.ClientHttp2Session, body: Buffer, options: { end?: boolean; headers?: Record<string, string>; path?: string } = {}): Promise<RawAnswer> {
  const start = Date.now();
  return new Promise((resolve) => {
    const stream = session.request({ ":method": "POST", ":path": options.path ?? VERIFY_PATH, "content-type": "application/grpc", te: "trailers", ...options.headers });
    let status: string | undefined;
    let message: string | undefined;
    const note = (h: http2.IncomingHttpHeaders) => {
      status ??= h["grpc-status"] as string | undefined;
      message ??= h["grpc-message"] as string | undefined;
    };
    stream.on("response", note);
    stream.on("trailers", note);
    stream.on("error", () => {});
    stream.on("close", () =>
      resolve({ grpcStatus: status, grpcMessage: message === undefined ? undefined : decodeURIComponent(message), rstCode: stream.rstCode, ms: Date.now() - start }),
    );
    stream.resume();
    stream.write(body);
    if (options.end) stream.end();
  });
}

function connectH2(url: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, { maxSendHeaderBlockLength: 1 << 24 });
    session.on("error", () => {});
    session.once("remoteSettings", () => resolve(session));
    session.once("close", () => reject(new Error("closed before SETTINGS")));
  });
}

async function issueSecret(server: TestServer): Promise<string> {
  const admin = createSigilClient({ baseUrl: server.grpcUrl, adminKey: server.adminKey });
  return (await admin.issueKey({ name: "bounds", owner: "svc:bounds" })).secret;
}

describe("gRPC listener bounds (issue 9 item 4, issue 10 item 4)", () => {
  let server: TestServer;
  let secret: string;

  before(async () => {
    server = await startTestServer({ SIGIL_MAX_STREAMS_PER_CONNECTION: "10", SIGIL_IDLE_TIMEOUT: "3s", SIGIL_RECEIVE_TIMEOUT: "2s" });
    secret = await issueSecret(server);
  });
  after(() => server.close());

  it("advertises its bounds in HTTP/2 SETTINGS", async () => {
    const session = await connectH2(server.grpcUrl);
    assert.equal(session.remoteSettings.maxHeaderListSize, 16384);
    assert.equal(session.remoteSettings.maxConcurrentStreams, 10);
    session.destroy();
  });

  it("answers request metadata over 16 KiB with a prompt RESOURCE_EXHAUSTED, also on a connection's first request", async () => {
    const client = grpcJsClient(server.grpcUrl);
    const big = await grpcJsCall(client, KeyService.method.verifyKey, { credential: secret }, { "x-padding": "a".repeat(20 * 1024) });
    assert.equal(big.ok ? "OK" : grpc.status[big.code], "RESOURCE_EXHAUSTED");
    const fine = await grpcJsCall(client, KeyService.method.verifyKey, { credential: secret }, { "x-padding": "a".repeat(8 * 1024) });
    assert.ok(fine.ok && fine.value.valid);
    client.close();
    // Sent with the connection preface, before the client could acknowledge the SETTINGS.
    const session = http2.connect(server.grpcUrl, { maxSendHeaderBlockLength: 1 << 24 });
    session.on("error", () => {});
    const answer = await rawCall(session, verifyMessage(secret), { end: true, headers: { "x-padding": "b".repeat(20 * 1024) } });
    assert.ok(answer.grpcStatus === "8" || answer.rstCode === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, JSON.stringify(answer));
    assert.ok(answer.ms < 2000, `${answer.ms} ms`);
    session.destroy();
  });

  for (const client of ["raw HTTP/2", "grpc-js"] as const) {
    it(`closes a connection nghttp2 gave up on (a header field over 64 KiB, ${client}): a prompt error, no socket left, VerifyKey answered after`, async () => {
      const port = server.app.grpcPort;
      const field = "~".repeat(70 * 1024); // not Huffman-shorter: over nghttp2's 64 KiB per field on the wire
      const start = Date.now();
      let clientPort: number;
      if (client === "raw HTTP/2") {
        const session = await connectH2(server.grpcUrl);
        clientPort = session.socket.localPort!;
        const answer = await rawCall(session, verifyMessage(secret), { end: true, headers: { "x-big": field } });
        assert.equal(answer.grpcStatus, undefined, "no answer to that call is possible");
        session.destroy();
      } else {
        const grpcJs = grpcJsClient(server.grpcUrl);
        const warm = await grpcJsCall(grpcJs, KeyService.method.verifyKey, { credential: secret });
        assert.ok(warm.ok);
        const established = serverSocketStates(port);
        const r = await grpcJsCall(grpcJs, KeyService.method.verifyKey, { credential: secret }, { "x-big": field });
        assert.ok(!r.ok, "the call fails");
        clientPort = -1;
        grpcJs.close();
        assert.ok(established.length >= 1);
      }
      assert.ok(Date.now() - start < 3000, `the error took ${Date.now() - start} ms`);
      // The server side of that connection goes away (on Node 20 it stayed in CLOSE-WAIT forever).
      await until("the server to close the abandoned socket", () => (clientPort === -1 ? serverSocketStates(port) : serverSocketStates(port, clientPort)).length === 0, 15_000);
      const fresh = grpcJsClient(server.grpcUrl);
      const t = Date.now();
      const ok = await grpcJsCall(fresh, KeyService.method.verifyKey, { credential: secret });
      fresh.close();
      assert.ok(ok.ok && ok.value.valid);
      assert.ok(Date.now() - t < 2000);
    });
  }

  it("refuses a VerifyKey message over its limit at its length prefix, without waiting for (or buffering) the body", async () => {
    const session = await connectH2(server.grpcUrl);
    // Declares about 1 MB (within SIGIL_MAX_MESSAGE_BYTES, so grpc-js alone would buffer it), sends 100 bytes.
    const answer = await rawCall(session, Buffer.concat([prefix(1_000_000), Buffer.alloc(100)]));
    session.destroy();
    assert.equal(answer.grpcStatus, "8", JSON.stringify(answer));
    assert.match(answer.grpcMessage ?? "", /larger than 32768, the limit of VerifyKey/);
    assert.ok(answer.ms < 1500, `${answer.ms} ms: refused by the receive timeout, not the size`);

    const client = grpcJsClient(server.grpcUrl);
    const big = await grpcJsCall(client, KeyService.method.verifyKey, { credential: "x".repeat(40 * 1024) });
    assert.equal(big.ok ? "OK" : grpc.status[big.code], "RESOURCE_EXHAUSTED");
    // A method with a larger limit takes a larger message: 100 credentials of 700 bytes (~70 KiB).
    const batch = await new Promise<grpc.ServiceError | null>((resolve) => {
      const req = toBinary(KeyService.method.batchVerifyKeys.input, create(KeyService.method.batchVerifyKeys.input, { requests: Array.from({ length: 100 }, () => ({ credential: "y".repeat(700) })) }));
      client.makeUnaryRequest("/sigil.v1.KeyService/BatchVerifyKeys", (b: Buffer) => b, (b: Buffer) => b, Buffer.from(req), new grpc.Metadata(), (err) => resolve(err));
    });
    client.close();
    assert.equal(batch, null);
    assert.ok(server.logs.some((l) => l.includes('"method":"sigil.v1.KeyService/VerifyKey"') && l.includes('"code":"RESOURCE_EXHAUSTED"')), "refused calls are logged");
  });

  it("cuts a slow, unfinished message after the receive timeout (DEADLINE_EXCEEDED)", async () => {
    const session = await connectH2(server.grpcUrl);
    const answer = await rawCall(session, Buffer.concat([prefix(100), Buffer.alloc(10)]));
    session.destroy();
    assert.equal(answer.grpcStatus, "4", JSON.stringify(answer));
    assert.match(answer.grpcMessage ?? "", /receive timeout/);
    assert.ok(answer.ms >= 1500 && answer.ms < 6000, `${answer.ms} ms`);
  });

  it("refuses streams past SIGIL_MAX_STREAMS_PER_CONNECTION", async () => {
    // Sent with the preface, before our side knows the limit: a client that ignores it.
    const session = http2.connect(server.grpcUrl);
    session.on("error", () => {});
    const open = Array.from({ length: 10 }, () => rawCall(session, Buffer.concat([prefix(100), Buffer.alloc(10)])));
    const extra = await rawCall(session, verifyMessage(secret), { end: true });
    assert.equal(extra.rstCode, http2.constants.NGHTTP2_REFUSED_STREAM, JSON.stringify(extra));
    session.destroy();
    await Promise.all(open);
  });

  it("closes a connection without calls after the idle timeout (GOAWAY), and clients reconnect", async () => {
    const session = await connectH2(server.grpcUrl);
    const answer = await rawCall(session, verifyMessage(secret), { end: true });
    assert.equal(answer.grpcStatus, "0");
    const idleFrom = Date.now();
    const goaway = new Promise<number>((resolve) => session.once("goaway", (code) => resolve(code)));
    await new Promise((resolve) => session.once("close", resolve));
    const idleMs = Date.now() - idleFrom;
    assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
    assert.ok(idleMs >= 2500 && idleMs < 8000, `closed after ${idleMs} ms`);
    const client = grpcJsClient(server.grpcUrl);
    assert.ok((await grpcJsCall(client, KeyService.method.verifyKey, { credential: secret })).ok);
    await sleep(4500);
    assert.ok((await grpcJsCall(client, KeyService.method.verifyKey, { credential: secret })).ok, "grpc-js reconnects after the idle close");
    client.close();
  });

  it("closes a TCP connection that never speaks HTTP/2 after the receive timeout", async () => {
    const socket = net.connect(server.app.grpcPort, "127.0.0.1");
    socket.on("error", () => {});
    const start = Date.now();
    socket.resume();
    await new Promise((resolve) => socket.once("close", resolve));
    const ms = Date.now() - start;
    assert.ok(ms >= 1500 && ms < 6000, `closed after ${ms} ms`);
  });
});

describe("the byte budget for unfinished requests (SIGIL_MAX_PENDING_REQUEST_BYTES)", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ SIGIL_MAX_MESSAGE_BYTES: "1048576", SIGIL_MAX_PENDING_REQUEST_BYTES: "2097152", SIGIL_RECEIVE_TIMEOUT: "3s" });
  });
  after(() => server.close());

  it("refuses an unfinished message once the listener holds its budget, on both listeners", async () => {
    const session = await connectH2(server.grpcUrl);
    const batchPath = "/sigil.v1.KeyService/BatchVerifyKeys";
    // Two unfinished ~900 KB messages hold 1.8 MB of the 2 MiB budget; a third does not fit.
    const held = [0, 1].map(() => rawCall(session, Buffer.concat([prefix(900_000), Buffer.alloc(1000)]), { path: batchPath }));
    await sleep(300);
    const third = await rawCall(session, Buffer.concat([prefix(900_000), Buffer.alloc(1000)]), { path: batchPath });
    assert.equal(third.grpcStatus, "8", JSON.stringify(third));
    assert.match(third.grpcMessage ?? "", /too many unfinished requests/);
    // The HTTP listener has its own budget, spent by bodies that have not fully arrived.
    const bodies = [0, 1, 2].map(() => {
      const socket = net.connect(server.app.httpPort, "127.0.0.1");
      socket.on("error", () => {});
      socket.write(`POST ${batchPath} HTTP/1.1\r\nhost: x\r\ncontent-type: application/proto\r\ncontent-length: 1000000\r\n\r\n`);
      socket.write(Buffer.alloc(800_000));
      return socket;
    });
    const answers = await Promise.all(
      bodies.map(
        (socket) =>
          new Promise<string>((resolve) => {
            let text = "";
            socket.on("data", (d) => (text += d.toString("latin1")));
            socket.on("close", () => resolve(text.split("\r\n")[0] ?? ""));
          }),
      ),
    );
    assert.ok(answers.includes("HTTP/1.1 429 Too Many Requests"), JSON.stringify(answers));
    session.destroy();
    await Promise.all(held);
    // Once the holders are gone, the budget is free again.
    const after = await connectH2(server.grpcUrl);
    const ok = await rawCall(after, Buffer.concat([prefix(2), Buffer.from([0x0a, 0x00])]), { end: true, path: batchPath });
    after.destroy();
    assert.equal(ok.grpcStatus, "0", JSON.stringify(ok));
  });
});

describe("connections per listener (SIGIL_MAX_CONNECTIONS)", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ SIGIL_MAX_CONNECTIONS: "4" });
  });
  after(() => server.close());

  for (const listener of ["grpc", "http"] as const) {
    it(`closes a ${listener} connection past the limit at once, and serves again when one closes`, async () => {
      const port = listener === "grpc" ? server.app.grpcPort : server.app.httpPort;
      const open = (): Promise<net.Socket> =>
        new Promise((resolve, reject) => {
          const s = net.connect(port, "127.0.0.1", () => resolve(s));
          s.on("error", reject);
        });
      const held = await Promise.all([open(), open(), open(), open()]);
      await sleep(200);
      const extra = await open();
      const closedAfter = await new Promise<number>((resolve) => {
        const t = Date.now();
        extra.on("close", () => resolve(Date.now() - t));
        extra.resume();
      });
      assert.ok(closedAfter < 2000, `the extra connection stayed ${closedAfter} ms`);
      held.forEach((s) => s.destroy());
      await sleep(200);
      const client = createSigilClient({ baseUrl: listener === "grpc" ? server.grpcUrl : server.httpUrl, protocol: listener === "grpc" ? "grpc" : "connect" });
      await client.getJwks({});
      assert.ok(server.logs.some((l) => l.includes("connection refused: the listener holds its most connections")));
    });
  }
});

describe("HTTP listener bounds (issue 9 items 3 and 4)", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ SIGIL_IDLE_TIMEOUT: "3s", SIGIL_RECEIVE_TIMEOUT: "2s" });
  });
  after(() => server.close());

  /** A raw HTTP/1.1 connection that collects what the server sends. */
  function raw(): { socket: net.Socket; text: () => string; closed: Promise<number> } {
    const socket = net.connect(server.app.httpPort, "127.0.0.1");
    socket.on("error", () => {});
    let text = "";
    socket.on("data", (d) => (text += d.toString("latin1")));
    const start = Date.now();
    const closed = new Promise<number>((resolve) => socket.on("close", () => resolve(Date.now() - start)));
    return { socket, text: () => text, closed };
  }
  const REQUEST_HEAD = (extra: string) => `POST ${VERIFY_PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${extra}\r\n`;

  for (const framing of ["chunked, never finished", "chunked, finished", "content-length"] as const) {
    it(`refuses an over-limit body (${framing}) and does not wedge the connection: the next request is answered or the socket closed`, async () => {
      const { socket, text, closed } = raw();
      const body = `{"credential":"${"z".repeat(40 * 1024)}"}`;
      if (framing === "content-length") socket.write(REQUEST_HEAD(`content-length: ${body.length}\r\n`) + body);
      else {
        socket.write(REQUEST_HEAD("transfer-encoding: chunked\r\n"));
        socket.write(`${body.length.toString(16)}\r\n${body}\r\n`);
        if (framing === "chunked, finished") socket.write("0\r\n\r\n");
      }
      await until("the refusal", () => text().includes("\r\n\r\n"), 5000);
      assert.match(text(), /^HTTP\/1\.1 429 /);
      assert.match(text(), /resource_exhausted/);
      assert.match(text(), /[Cc]onnection: close/);
      const answered = text().length;
      socket.write(`GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n`);
      const outcome = await Promise.race([closed.then(() => "closed"), until("an answer", () => text().slice(answered).includes("SERVING") && "answered", 5000)]);
      assert.ok(outcome === "closed" || outcome === "answered");
      await Promise.race([closed, sleep(5000).then(() => assert.fail("the socket stayed open"))]);
    });
  }

  it("logs the refused call", () => {
    assert.ok(server.logs.some((l) => l.includes('"method":"sigil.v1.KeyService/VerifyKey"') && l.includes('"code":"RESOURCE_EXHAUSTED"')));
  });

  it("cuts a request whose body does not arrive within the receive timeout (408) and closes the connection", async () => {
    const { socket, text, closed } = raw();
    socket.write(REQUEST_HEAD("content-length: 100\r\n") + `{"credential":`);
    const ms = await closed;
    assert.match(text(), /^HTTP\/1\.1 408 /);
    assert.ok(ms >= 1500 && ms < 6000, `${ms} ms`);
  });

  it("closes a connection that sends nothing after the receive timeout, and an idle keep-alive one after the idle timeout", async () => {
    const silent = raw();
    const silentMs = await silent.closed;
    assert.ok(silentMs >= 1500 && silentMs < 6000, `${silentMs} ms`);
    const kept = raw();
    kept.socket.write(`GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n`);
    const idleMs = await kept.closed;
    assert.match(kept.text(), /SERVING/);
    assert.ok(idleMs >= 2500 && idleMs < 8000, `${idleMs} ms`);
  });

  it("answers request headers over 16 KiB with 431", async () => {
    const { socket, text, closed } = raw();
    socket.write(`GET /healthz HTTP/1.1\r\nhost: x\r\nx-padding: ${"p".repeat(17 * 1024)}\r\n\r\n`);
    await closed;
    assert.match(text(), /^HTTP\/1\.1 431 /);
  });
});
