// The gRPC limit: a bare grpc-js server that answers Sigil's method paths with fixed, pre-serialized
// bytes. It neither parses requests nor serializes responses, so what it serves per second is what
// grpc-js itself can do on one core; Sigil's gRPC figures are printed as a fraction of it.
// `--tls <cert file> <key file>` serves it over TLS (grpc-js's own secure server, ALPN h2): the limit
// of the TLS scenarios.
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { fixedResponseBytes } from "./fixed-responses.js";
import { announceListening, parsePortArg } from "./listen-args.js";

const passThrough = (bytes: Buffer): Buffer => bytes;

function fixedAnswerService(): grpc.ServiceDefinition {
  const methods = [...fixedResponseBytes.keys()].map((path) => [
    path,
    {
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: passThrough,
      requestDeserialize: passThrough,
      responseSerialize: passThrough,
      responseDeserialize: passThrough,
    },
  ]);
  return Object.fromEntries(methods) as grpc.ServiceDefinition;
}

function fixedAnswerHandlers(): grpc.UntypedServiceImplementation {
  const handlers = [...fixedResponseBytes].map(([path, response]) => {
    const answer: grpc.handleUnaryCall<Buffer, Buffer> = (_call, callback) => callback(null, response);
    return [path, answer];
  });
  return Object.fromEntries(handlers) as grpc.UntypedServiceImplementation;
}

function credentials(argv: readonly string[]): grpc.ServerCredentials {
  const at = argv.indexOf("--tls");
  if (at < 0) return grpc.ServerCredentials.createInsecure();
  const [cert, key] = [argv[at + 1], argv[at + 2]];
  if (!cert || !key) throw new Error("--tls needs a certificate file and a key file");
  return grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(cert), private_key: readFileSync(key) }], false);
}

const server = new grpc.Server();
server.addService(fixedAnswerService(), fixedAnswerHandlers());
server.bindAsync(`127.0.0.1:${parsePortArg(process.argv)}`, credentials(process.argv), (err, port) => {
  if (err) throw err;
  announceListening(port);
});
process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
