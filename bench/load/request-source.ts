// Turns a RequestSourceSpec into a `next()` that returns the body of the next call. The hot path
// only copies bytes: fixed bodies are reused as they are, random-key bodies are assembled from the
// shared key list with a hand-written protobuf/JSON prefix (checked against protobuf-es at start).
import { create, toBinary } from "@bufbuild/protobuf";
import { VerifyKeyRequestSchema } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import type { LoadProtocol, RequestSourceSpec } from "./spec.js";

export type RequestSource = () => Buffer;

export function createRequestSource(spec: RequestSourceSpec, protocol: LoadProtocol): RequestSource {
  if (spec.kind === "fixed") {
    const bodies = spec.bodies.map((body) => Buffer.from(body));
    if (bodies.length === 0) throw new Error("fixed request source needs at least one body");
    let next = 0;
    return () => {
      const body = bodies[next]!;
      next = next + 1 === bodies.length ? 0 : next + 1;
      return body;
    };
  }
  const keyText = Buffer.from(spec.keyText);
  const lineStarts = new Uint32Array(spec.lineStarts);
  const random = xorshift32(spec.seed);
  const encode = protocol === "grpc" ? encodeVerifyProto : encodeVerifyJson;
  assertSameAsProtobufEs(protocol, keyText.subarray(lineStarts[0], lineStarts[1]! - 1));
  return () => {
    const line = random() % spec.lineCount;
    // lineStarts has lineCount+1 entries; the last one is one past the final newline.
    return encode(keyText.subarray(lineStarts[line], lineStarts[line + 1]! - 1));
  };
}

/** VerifyKeyRequest{credential} in protobuf: tag 0x0a, varint length, UTF-8 bytes. */
function encodeVerifyProto(credential: Buffer): Buffer {
  const length = credential.length;
  const header = length < 0x80 ? [0x0a, length] : [0x0a, (length & 0x7f) | 0x80, length >> 7];
  const body = Buffer.allocUnsafe(header.length + length);
  body.set(header, 0);
  credential.copy(body, header.length);
  return body;
}

const JSON_OPEN = Buffer.from('{"credential":"');
const JSON_CLOSE = Buffer.from('"}');

/** {"credential":"..."}; key strings are base62 plus '_', so nothing needs escaping. */
function encodeVerifyJson(credential: Buffer): Buffer {
  return Buffer.concat([JSON_OPEN, credential, JSON_CLOSE]);
}

function assertSameAsProtobufEs(protocol: LoadProtocol, credentialBytes: Buffer): void {
  const credential = credentialBytes.toString("utf8");
  const expected =
    protocol === "grpc"
      ? Buffer.from(toBinary(VerifyKeyRequestSchema, create(VerifyKeyRequestSchema, { credential })))
      : Buffer.from(JSON.stringify({ credential }));
  const actual = protocol === "grpc" ? encodeVerifyProto(credentialBytes) : encodeVerifyJson(credentialBytes);
  if (!actual.equals(expected)) throw new Error(`hand-encoded VerifyKeyRequest differs from protobuf-es for ${protocol}`);
}

/** Small seeded PRNG: reproducible draws without Math.random's cost or global state. */
function xorshift32(seed: number): () => number {
  let state = seed >>> 0 || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
}
