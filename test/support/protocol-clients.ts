import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import type { TestServer } from "./test-server.js";

/**
 * An admin client of `server` for each protocol it speaks: gRPC on the gRPC listener, Connect
 * (binary, and JSON unless `binaryOnly`) and gRPC-Web on the HTTP listener. Named for messages.
 */
export function protocolClients(server: TestServer, options: { binaryOnly?: boolean } = {}): Array<[string, SigilClient]> {
  const adminKey = server.adminKey;
  return [
    ["grpc", createSigilClient({ baseUrl: server.grpcUrl, adminKey })],
    ["connect", createSigilClient({ baseUrl: server.httpUrl, protocol: "connect", adminKey })],
    ...(options.binaryOnly ? [] : [["connect json", createSigilClient({ baseUrl: server.httpUrl, protocol: "connect", useJson: true, adminKey })] as [string, SigilClient]]),
    ["grpc-web", createSigilClient({ baseUrl: server.httpUrl, protocol: "grpc-web", adminKey })],
  ];
}
