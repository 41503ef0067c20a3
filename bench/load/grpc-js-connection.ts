// A gRPC connection through a grpc-js client (--grpc-client grpc-js, and the generator check).
// Bodies go out and come back as raw bytes (identity serializers), so it spends nothing on
// protobuf; grpc-js itself still costs more per call than the bare server does.
import * as grpc from "@grpc/grpc-js";
import type { Connection } from "./connection.js";
import type { LoadSpec } from "./spec.js";

const passThrough = (bytes: Buffer): Buffer => bytes;

export function openGrpcJsConnection(spec: LoadSpec): Connection {
  const credentials = spec.tls ? grpc.credentials.createSsl(Buffer.from(spec.tls.ca)) : grpc.credentials.createInsecure();
  const client = new grpc.Client(`${spec.host}:${spec.port}`, credentials, {
    // Without a local pool, grpc-js would share one TCP connection among all clients to one target.
    "grpc.use_local_subchannel_pool": 1,
  });
  const metadata = new grpc.Metadata();
  for (const [name, value] of Object.entries(spec.headers)) metadata.set(name, value);
  return {
    ready: () =>
      new Promise((resolve, reject) =>
        client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())),
      ),
    send(body, done) {
      client.makeUnaryRequest(spec.path, passThrough, passThrough, body, metadata, (err) => done(err ? err.code : 0));
    },
    close: () => client.close(),
  };
}
