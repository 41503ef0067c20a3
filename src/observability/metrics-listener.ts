import http from "node:http";
import type { Logger } from "pino";
import type { HostPort } from "../config/config.js";
import { MAX_HEADER_BYTES, MAX_HEADER_FIELDS } from "../transport/listener-limits.js";
import { limitConnections, listenOn } from "../transport/listening-socket.js";

/** What a scrape returns: the exposition text and its content type. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** Scrapers are few: a handful of connections is plenty, and bounds what a stray client can hold. */
const MAX_CONNECTIONS = 64;
const RECEIVE_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 65_000;

/**
 * The Prometheus listener: `GET /metrics` (and HEAD), 404 for any other path, 405 for another
 * method; plaintext HTTP/1.1 with the same kind of bounds as the other listeners (connections,
 * header size and count, receive and idle timeouts, no request body read).
 */
export class MetricsListener {
  readonly #server: http.Server;

  constructor(source: MetricsSource, log: Logger) {
    this.#server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, connectionsCheckingInterval: 1000 }, (req, res) => {
      const path = (req.url ?? "").split("?", 1)[0];
      const send = (status: number, body: string, headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...headers });
        res.end(req.method === "HEAD" ? undefined : body);
      };
      if (path !== "/metrics") return send(404, "not found: metrics are at /metrics\n");
      if (req.method !== "GET" && req.method !== "HEAD") return send(405, "method not allowed\n", { allow: "GET, HEAD" });
      source.metrics().then(
        (text) => send(200, text, { "content-type": source.contentType, "cache-control": "no-store" }),
        (err: Error) => {
          log.warn({ err: { message: err.message } }, "metrics scrape failed");
          send(500, "metrics unavailable\n");
        },
      );
    });
    this.#server.keepAliveTimeout = IDLE_TIMEOUT_MS;
    this.#server.requestTimeout = RECEIVE_TIMEOUT_MS;
    this.#server.headersTimeout = RECEIVE_TIMEOUT_MS;
    this.#server.maxHeadersCount = MAX_HEADER_FIELDS;
    limitConnections(this.#server, MAX_CONNECTIONS, "metrics", log);
  }

  /** Binds the port; rejects with Node's listen error (EADDRINUSE, ...). */
  listen(address: HostPort): Promise<number> {
    return listenOn(this.#server, address);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
