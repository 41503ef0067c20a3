import net from "node:net";
import tls from "node:tls";
import type * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { HostPort } from "../config/config.js";
import { createGrpcInjection } from "./grpc-js-injection.js";
import { createGrpcStreamGate, type GatedMethod } from "./grpc-stream-gate.js";
import { Http2SessionGuard } from "./http2-session-guard.js";
import { MAX_HEADER_BYTES, type ListenerLimits } from "./listener-limits.js";
import { followTlsReloads, limitConnections, listenOn, tlsServerOptions } from "./listening-socket.js";
import { RequestByteBudget } from "./request-byte-budget.js";
import type { TlsSource } from "./tls-reloader.js";

export interface GrpcSocketOptions {
  readonly limits: ListenerLimits;
  /** Per-method request limits, by gRPC path. */
  readonly methods: ReadonlyMap<string, GatedMethod>;
  /** TLS (ALPN h2) when set; plaintext HTTP/2 otherwise. */
  readonly tls?: TlsSource | undefined;
  readonly log: Logger;
}

/**
 * The gRPC listener's socket side: Sigil accepts connections itself (a `net` or `tls` server) and
 * hands each to grpc-js, which serves the calls. Owning the socket is what lets the listener bound
 * connections, do TLS with a certificate that reloads, gate streams (metadata size, per-method
 * message size, receive time) and close connections grpc-js or nghttp2 gave up on.
 */
export class GrpcListener {
  /** The grpc-js server that serves the calls. */
  readonly server: grpc.Server;
  readonly #socketServer: net.Server;
  readonly #guard: Http2SessionGuard;
  readonly #unfollowTls: (() => void) | undefined;

  constructor(server: grpc.Server, options: GrpcSocketOptions) {
    this.server = server;
    const { limits, log } = options;
    const injection = createGrpcInjection(server);
    injection.http2Server.updateSettings({ maxHeaderListSize: MAX_HEADER_BYTES, maxConcurrentStreams: limits.maxStreamsPerConnection });
    this.#guard = new Http2SessionGuard({ idleTimeoutMs: limits.idleTimeoutMs, receiveTimeoutMs: limits.receiveTimeoutMs, listener: "grpc", log });
    this.#guard.watch(injection.http2Server, { countStreams: false });
    injection.http2Server.on(
      "stream",
      createGrpcStreamGate(
        { methods: options.methods, budget: new RequestByteBudget(limits.maxPendingRequestBytes), guard: this.#guard, receiveTimeoutMs: limits.receiveTimeoutMs, log },
        injection.grpcStreamListener,
      ),
    );
    if (options.tls) {
      const tlsServer = tls.createServer(tlsServerOptions(options.tls.current, { alpn: ["h2"], receiveTimeoutMs: limits.receiveTimeoutMs }));
      tlsServer.on("secureConnection", (socket: tls.TLSSocket) => injection.inject(socket));
      this.#unfollowTls = followTlsReloads(tlsServer, options.tls);
      this.#socketServer = tlsServer;
    } else {
      this.#socketServer = net.createServer({ noDelay: true }, (socket) => injection.inject(socket));
    }
    limitConnections(this.#socketServer, limits.maxConnections, "grpc", log);
  }

  /** Binds the port; rejects with Node's listen error (EADDRINUSE, EACCES, ...). */
  listen(address: HostPort): Promise<number> {
    return listenOn(this.#socketServer, address);
  }

  /** Stops accepting, lets in-flight calls finish for up to `graceMs`, then cuts the rest. */
  close(graceMs: number): Promise<void> {
    this.#stopAccepting();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.forceClose();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        this.#guard.stopAfterShutdown();
        resolve();
      });
    });
  }

  /** Closes everything at once (start-up failed). */
  forceClose(): void {
    this.#stopAccepting();
    this.server.forceShutdown();
    this.#guard.stop();
  }

  #stopAccepting(): void {
    this.#unfollowTls?.();
    if (this.#socketServer.listening) this.#socketServer.close();
  }
}
