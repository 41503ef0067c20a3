import { readFileSync } from "node:fs";

/**
 * What one listener lets a client hold. Every bound is per listener and per process (with
 * `--workers N`, each worker has its own).
 */
export interface ListenerLimits {
  /** Open connections; one more is closed as soon as it is accepted. */
  readonly maxConnections: number;
  /** Concurrent HTTP/2 streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxStreamsPerConnection: number;
  /** A connection without a call in flight for this long is closed (HTTP/2: GOAWAY first). */
  readonly idleTimeoutMs: number;
  /**
   * Time a client has to send a whole request, and a new connection to finish its TLS handshake
   * and send its first HTTP/2 frames.
   */
  readonly receiveTimeoutMs: number;
  /** Bytes of unfinished requests buffered at once, all calls together (see RequestByteBudget). */
  readonly maxPendingRequestBytes: number;
}

/**
 * Largest header block (request metadata) accepted, counted as HTTP/2 does (name + value + 32 per
 * field); advertised as SETTINGS_MAX_HEADER_LIST_SIZE. The README promises it.
 */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Header fields per request. */
export const MAX_HEADER_FIELDS = 128;
/** File descriptors kept free for the database, files, logs and the other listener's accepts. */
const RESERVED_DESCRIPTORS = 128;

/**
 * `wanted` connections per listener, lowered so that `listeners` listeners all full still leave
 * descriptors free under the process's open-file limit (Linux: /proc/self/limits). Without that, a
 * flood of idle connections to one port shuts every listener out with EMFILE.
 */
export function fitConnectionsToFileLimit(wanted: number, listeners: number, limitsFile = "/proc/self/limits"): { maxConnections: number; fileLimit: number | undefined } {
  const fileLimit = openFileLimit(limitsFile);
  if (fileLimit === undefined) return { maxConnections: wanted, fileLimit };
  const fit = Math.max(1, Math.floor((fileLimit - RESERVED_DESCRIPTORS) / listeners));
  return { maxConnections: Math.min(wanted, fit), fileLimit };
}

function openFileLimit(limitsFile: string): number | undefined {
  try {
    const line = readFileSync(limitsFile, "utf8").split("\n").find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft && /^\d+$/.test(soft) ? Number(soft) : undefined;
  } catch {
    return undefined;
  }
}
