import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { KeyService } from "./gen/sigil/v1/key_service_pb.js";
import { SIGIL_CLIENT_VERSION } from "./version.js";

/** Sent as User-Agent (and gRPC-Web's x-user-agent) unless the caller set its own. */
export const SIGIL_USER_AGENT = `sigil-client/${SIGIL_CLIENT_VERSION}`;

/** Replaces connect-es's default user agent (which it sets before interceptors run); a caller's own stays. */
const userAgent: Interceptor = (next) => (req) => {
  for (const name of ["user-agent", "x-user-agent"]) {
    if (req.header.get(name)?.startsWith("connect-es/")) req.header.set(name, SIGIL_USER_AGENT);
  }
  return next(req);
};
import { clientTlsOptions, type SigilTlsOptions } from "./client-tls.js";

export type SigilProtocol = "grpc" | "connect" | "grpc-web";

export interface SigilClientOptions {
  /** `http://127.0.0.1:4420` for gRPC, `http://127.0.0.1:4421` for Connect and gRPC-Web. */
  readonly baseUrl: string;
  /** Wire protocol; default "grpc". gRPC needs the gRPC listener, the others the HTTP listener. */
  readonly protocol?: SigilProtocol;
  /** Admin key, sent as `authorization: Bearer <key>` on every call (needed by admin RPCs). */
  readonly adminKey?: string;
  /** Connect only: JSON instead of binary Protobuf on the wire. */
  readonly useJson?: boolean;
  /** Extra interceptors (tracing, retries, ...). */
  readonly interceptors?: Interceptor[];
  /** For an `https://` baseUrl: the CA to trust, a client certificate for mTLS (default: system CAs). */
  readonly tls?: SigilTlsOptions;
}

export type SigilClient = Client<typeof KeyService>;

/** A typed KeyService client over gRPC (HTTP/2), Connect or gRPC-Web (HTTP/1.1). */
export function createSigilClient(options: SigilClientOptions): SigilClient {
  return createClient(KeyService, createSigilTransport(options));
}

export function createSigilTransport(options: SigilClientOptions): Transport {
  const interceptors = [userAgent, ...(options.interceptors ?? [])];
  const adminKey = options.adminKey;
  if (adminKey) {
    interceptors.unshift((next) => (req) => {
      if (!req.header.has("authorization")) req.header.set("authorization", `Bearer ${adminKey}`);
      return next(req);
    });
  }
  const tls = clientTlsOptions(options.baseUrl, options.tls);
  const nodeOptions = tls ? { nodeOptions: tls } : {};
  switch (options.protocol ?? "grpc") {
    case "grpc":
      return createGrpcTransport({ baseUrl: options.baseUrl, interceptors, ...nodeOptions });
    case "connect":
      return createConnectTransport({ baseUrl: options.baseUrl, httpVersion: "1.1", useBinaryFormat: !options.useJson, interceptors, ...nodeOptions });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl: options.baseUrl, httpVersion: "1.1", interceptors, ...nodeOptions });
    default:
      throw new Error(`unknown protocol "${String(options.protocol)}"`);
  }
}

/** A client and what ends its connection: for long-lived followers (the feed) that must let the process exit. */
export interface OwnedSigilClient {
  readonly client: SigilClient;
  /** Closes the HTTP/2 session of a gRPC client (HTTP/1.1 sockets close by themselves when idle). */
  close(): void;
}

/**
 * A client over `transport` when given, else over baseUrl/protocol/tls; for gRPC with an HTTP/2
 * session of its own, so close() can end it. `who` names the caller in option errors.
 */
export function openSigilClient(options: Omit<SigilClientOptions, "baseUrl"> & { readonly baseUrl?: string; readonly transport?: Transport }, who: string): OwnedSigilClient {
  if (options.transport) return { client: createClient(KeyService, options.transport), close: () => undefined };
  const baseUrl = options.baseUrl;
  if (!baseUrl) throw new TypeError(`${who}: baseUrl or transport is required`);
  if ((options.protocol ?? "grpc") !== "grpc") return { client: createSigilClient({ ...options, baseUrl }), close: () => undefined };
  const sessionManager = new Http2SessionManager(baseUrl, undefined, clientTlsOptions(baseUrl, options.tls, who));
  const transport = createGrpcTransport({ baseUrl, sessionManager, interceptors: [userAgent, ...(options.interceptors ?? [])] });
  return { client: createClient(KeyService, transport), close: () => sessionManager.abort() };
}
