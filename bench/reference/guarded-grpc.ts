// The grpc-js interceptor's cost: a bare grpc-js service (`/bench.v1.Orders/Get`, fixed bytes, no
// parsing), with `--sigil <grpc url>` behind @sigil/client's sigilGrpcInterceptor (verifier key in
// SIGIL_VERIFIER_KEY, the method needing `orders:read`). The handler reads the identity either way
// it can, so the difference between the two is what the interceptor adds per call.
import * as grpc from "@grpc/grpc-js";
import { sigilGrpcInterceptor, sigilIdentity } from "../../clients/typescript/src/grpc-js.js";
import { createSigilAuth } from "../../clients/typescript/src/index.js";
import { GUARDED_METHOD } from "./guarded-method.js";
import { announceListening, parsePortArg } from "./listen-args.js";

const passThrough = (bytes: Buffer): Buffer => bytes;
const ANSWER = Buffer.from("0a0e6f726465722d3132333435363738", "hex");

const at = process.argv.indexOf("--sigil");
const sigilUrl = at >= 0 ? process.argv[at + 1] : undefined;
const auth = sigilUrl === undefined ? undefined : createSigilAuth({ baseUrl: sigilUrl, verifierKey: process.env.SIGIL_VERIFIER_KEY });
await auth?.ready();

const server = new grpc.Server(auth ? { interceptors: [sigilGrpcInterceptor(auth, { scopes: { "bench.v1.Orders": ["orders:read"] } })] } : {});
const definition = { Get: { path: GUARDED_METHOD, requestStream: false, responseStream: false, requestSerialize: passThrough, requestDeserialize: passThrough, responseSerialize: passThrough, responseDeserialize: passThrough } };
const get: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
  if (auth && !sigilIdentity(call)) return callback({ code: grpc.status.INTERNAL, details: "no identity" });
  callback(null, ANSWER);
};
server.addService(definition as grpc.ServiceDefinition, { Get: get });
server.bindAsync(`127.0.0.1:${parsePortArg(process.argv)}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  announceListening(port);
});
process.on("SIGTERM", () => server.tryShutdown(() => void auth?.close().finally(() => process.exit(0))));
