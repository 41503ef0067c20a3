import type { Logger } from "pino";
import { SETTINGS, type Config } from "../config/config.js";
import { fitConnectionsToFileLimit, type ListenerLimits } from "./listener-limits.js";
import { TlsReloader } from "./tls-reloader.js";

/** The listeners' bounds and TLS, as both listeners get them. */
export interface TransportSecurity {
  readonly limits: ListenerLimits;
  /** When TLS is configured; `start()` it once the listeners are up to follow file changes. */
  readonly tls: TlsReloader | undefined;
}

/** Both listeners of this process share the descriptor budget. */
const LISTENERS = 2;

/**
 * Loads the TLS files (a wrong one throws the ConfigError naming its setting) and the listener
 * bounds from the config, fitting SIGIL_MAX_CONNECTIONS under the open-file limit.
 */
export function openTransportSecurity(config: Config, log: Logger): TransportSecurity {
  const { maxConnections, fileLimit } = fitConnectionsToFileLimit(config.maxConnections, LISTENERS);
  if (maxConnections < config.maxConnections) {
    log.warn(
      { setting: SETTINGS.maxConnections.env, wanted: config.maxConnections, used: maxConnections, openFileLimit: fileLimit },
      "fewer connections per listener than configured, to stay under the open-file limit (raise it with ulimit -n)",
    );
  }
  const limits: ListenerLimits = {
    maxConnections,
    maxStreamsPerConnection: config.maxStreamsPerConnection,
    idleTimeoutMs: config.idleTimeoutMs,
    receiveTimeoutMs: config.receiveTimeoutMs,
    maxPendingRequestBytes: config.maxPendingRequestBytes,
  };
  if (config.tlsCertFile === undefined || config.tlsKeyFile === undefined) return { limits, tls: undefined };
  const tls = new TlsReloader(
    { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, clientCaFile: config.tlsClientCaFile },
    { intervalMs: config.tlsReloadIntervalMs, log },
  );
  const leaf = tls.current.leaf;
  const now = Date.now();
  if (leaf.notAfter.getTime() <= now || leaf.notBefore.getTime() > now) {
    log.warn({ subject: leaf.subject, notBefore: leaf.notBefore.toISOString(), notAfter: leaf.notAfter.toISOString() }, "the TLS certificate is not valid now; clients will refuse it");
  }
  log.info({ subject: leaf.subject, notAfter: leaf.notAfter.toISOString(), fingerprint256: leaf.fingerprint256, mtls: tls.current.requireClientCert }, "TLS on both listeners");
  return { limits, tls };
}
