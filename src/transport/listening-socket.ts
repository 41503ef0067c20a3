import type net from "node:net";
import type tls from "node:tls";
import type { Logger } from "pino";
import type { HostPort } from "../config/config.js";
import type { TlsMaterial } from "./tls-material.js";
import type { TlsSource } from "./tls-reloader.js";

/**
 * TLS options of a listener: the material's certificate and key, TLS 1.2 or later, mTLS when a
 * client CA is set (a client without a certificate that CA signed fails the handshake), and a
 * handshake that must finish within the receive timeout.
 */
export function tlsServerOptions(material: TlsMaterial, options: { readonly alpn: readonly string[]; readonly receiveTimeoutMs: number }): tls.TlsOptions {
  return {
    ...material.context,
    ALPNProtocols: [...options.alpn],
    requestCert: material.requireClientCert,
    rejectUnauthorized: material.requireClientCert,
    handshakeTimeout: options.receiveTimeoutMs,
  };
}

/** New connections get each reloaded certificate; existing ones keep the one they started with. */
export function followTlsReloads(server: tls.Server, source: TlsSource): () => void {
  return source.onChange((material) => server.setSecureContext(material.context));
}

/** Most TLS handshake failures logged per interval: a scan must not flood the log. */
const HANDSHAKE_LOGS_PER_INTERVAL = 5;
const LOG_INTERVAL_MS = 10_000;

/**
 * Closes connections past `maxConnections` as soon as they are accepted (Node's own check, before any
 * byte is read), and logs refused connections and failed TLS handshakes at most a few times per
 * interval, with counts.
 */
export function limitConnections(server: net.Server, maxConnections: number, listener: string, log: Logger): void {
  server.maxConnections = maxConnections;
  let dropped = 0;
  let handshakeFailures = 0;
  let windowStart = 0;
  const inWindow = () => {
    const now = Date.now();
    if (now - windowStart >= LOG_INTERVAL_MS) {
      windowStart = now;
      dropped = 0;
      handshakeFailures = 0;
    }
  };
  server.on("drop", () => {
    inWindow();
    if (dropped++ === 0) log.warn({ listener, maxConnections }, "connection refused: the listener holds its most connections (SIGIL_MAX_CONNECTIONS)");
  });
  server.on("tlsClientError", (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    inWindow();
    if (handshakeFailures++ < HANDSHAKE_LOGS_PER_INTERVAL) log.info({ listener, peer: socket.remoteAddress, reason: err.code ?? err.message }, "TLS handshake failed");
  });
}

/** Listens on `address`; resolves with the bound port, rejects with Node's error (EADDRINUSE, ...). */
export function listenOn(server: net.Server, address: HostPort): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => {
      server.off("error", reject);
      const bound = server.address();
      resolve(typeof bound === "object" && bound ? bound.port : address.port);
    });
  });
}
