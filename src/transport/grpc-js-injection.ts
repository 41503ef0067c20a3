import type http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";

/** What grpc-js's connection injector gives, with the HTTP/2 server it hides. */
export interface GrpcInjection {
  /** Hands an accepted (and, with TLS, decrypted) socket to grpc-js. */
  readonly inject: (socket: import("node:net").Socket) => void;
  /** The plaintext HTTP/2 server grpc-js made for injected connections. */
  readonly http2Server: http2.Http2Server;
  /**
   * grpc-js's own 'stream' listener, taken off `http2Server`: whoever owns the server now calls it
   * for every stream it admits.
   */
  readonly grpcStreamListener: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;
}

/**
 * Connection injection into grpc-js (`Server.createConnectionInjector`), so that Sigil owns the
 * listening socket (connection limits, TLS and its reload, closing what grpc-js leaves open) while
 * grpc-js still serves every call. grpc-js does not expose the HTTP/2 server behind an injector, and
 * offers no option for SETTINGS_MAX_HEADER_LIST_SIZE or a per-call gate; this module is the one place
 * that reaches into it (grpc-js 1.14: the private `http2Servers` map). It fails at start-up, not
 * silently, if a grpc-js upgrade changes that.
 */
export function createGrpcInjection(server: grpc.Server): GrpcInjection {
  const internals = server as unknown as { http2Servers?: unknown };
  const servers = internals.http2Servers;
  if (!(servers instanceof Map)) throw new Error("grpc-js internals changed: Server.http2Servers is not a Map (see src/transport/grpc-js-injection.ts)");
  const before = new Set(servers.keys());
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const created = [...servers.keys()].filter((s) => !before.has(s)) as http2.Http2Server[];
  if (created.length !== 1) throw new Error("grpc-js internals changed: no HTTP/2 server found for the connection injector");
  const http2Server = created[0]!;
  const listeners = http2Server.listeners("stream");
  if (listeners.length !== 1) throw new Error(`grpc-js internals changed: expected 1 'stream' listener, found ${listeners.length}`);
  http2Server.removeAllListeners("stream");
  return {
    inject: (socket) => injector.injectConnection(socket),
    http2Server,
    grpcStreamListener: listeners[0] as GrpcInjection["grpcStreamListener"],
  };
}
