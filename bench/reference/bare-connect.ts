// The Connect limit: connect-node's adapter on a plain HTTP/1.1 `http.createServer` (what curl and
// fetch use for Connect JSON) with handlers that return fixed messages. Unlike the bare gRPC server
// it still parses the request and serializes the answer, because connect-node always does.
import * as http from "node:http";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { KeyService } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { deriveTokenResponse, issueKeyResponse, verifyKeyResponse } from "./fixed-responses.js";
import { announceListening, parsePortArg } from "./listen-args.js";

function routes(router: ConnectRouter): void {
  router.service(KeyService, {
    verifyKey: () => verifyKeyResponse,
    issueKey: () => issueKeyResponse,
    deriveToken: () => deriveTokenResponse,
  });
}

const server = http.createServer(connectNodeAdapter({ routes }));
server.keepAliveTimeout = 60_000;
server.listen(parsePortArg(process.argv), "127.0.0.1", () => {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("unexpected listen address");
  announceListening(address.port);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
