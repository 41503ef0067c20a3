import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary, type DescMethodUnary, type MessageInitShape, type MessageShape, create } from "@bufbuild/protobuf";

/** A plain grpc-js client, as any non-Connect gRPC caller would use (no Connect code involved). */
export function grpcJsClient(grpcUrl: string): grpc.Client {
  return new grpc.Client(grpcUrl.replace(/^http:\/\//, ""), grpc.credentials.createInsecure());
}

export type GrpcResult<O> = { ok: true; value: O } | { ok: false; code: grpc.status; details: string };

export function grpcJsCall<I extends DescMethodUnary["input"], O extends DescMethodUnary["output"]>(
  client: grpc.Client,
  method: DescMethodUnary<I, O>,
  request: MessageInitShape<I>,
  metadata: Record<string, string> = {},
): Promise<GrpcResult<MessageShape<O>>> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  const path = `/${method.parent.typeName}/${method.name}`;
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (msg: MessageShape<I>) => Buffer.from(toBinary(method.input, msg)),
      (buf: Buffer) => fromBinary(method.output, buf),
      create(method.input, request),
      md,
      (err, value) => {
        if (err) resolve({ ok: false, code: err.code, details: err.details });
        else resolve({ ok: true, value: value! });
      },
    );
  });
}

/** Sends raw bytes to a method path (for malformed-payload tests). */
export function grpcJsRawCall(client: grpc.Client, path: string, payload: Buffer, metadata = new grpc.Metadata()): Promise<{ code: grpc.status; details: string }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, payload, metadata, (err) => {
      resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: "" });
    });
  });
}
