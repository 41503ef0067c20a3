import type http2 from "node:http2";
import type { Logger } from "pino";

export interface SessionGuardOptions {
  /** A session without a stream for this long gets a GOAWAY and is closed. */
  readonly idleTimeoutMs: number;
  /** Time for a new session's first frames, for a request's last byte and for a PING answer. */
  readonly receiveTimeoutMs: number;
  /** Which listener, for log lines. */
  readonly listener: string;
  readonly log: Logger;
}

/** A session whose socket has read nothing for this long is asked for a PING answer. */
const QUIET_BEFORE_PING_MS = 1000;
/** Longest wait for a PING answer (shorter when the receive timeout is shorter). */
const MAX_PING_WAIT_MS = 5000;
/** A session that got a GOAWAY but still has streams after this long is destroyed. */
const CLOSE_GRACE_MS = 10_000;

interface SessionWatch {
  readonly session: http2.ServerHttp2Session;
  readonly openedAt: number;
  /** The client's SETTINGS arrived (it speaks HTTP/2). */
  settled: boolean;
  streams: number;
  idleSince: number;
  closingSince: number | undefined;
  /** Socket bytes read at the last sweep, and since when that count has not moved. */
  seenBytes: number;
  quietSince: number;
  /** Socket bytes read when the last PING answer arrived: no new PING until more arrive. */
  answeredAt: number;
  pingSentAt: number | undefined;
  readonly onStreamClose: () => void;
}

/** What to do with a stream whose request did not arrive in time, and its argument. */
export interface RequestWatch {
  readonly onTimeout: (stream: http2.ServerHttp2Stream, context: unknown) => void;
  readonly context: unknown;
}

/**
 * Bounds what an HTTP/2 client can hold on a listener, by one sweep per interval rather than
 * timers per call:
 * - a connection that sends no HTTP/2 SETTINGS within the receive timeout is closed;
 * - a session without streams for the idle timeout gets a GOAWAY (clients reconnect on demand);
 * - a request whose last byte has not arrived within the receive timeout is cut (`onTimeout`), at
 *   at most half a receive timeout later (requests are kept in generations of half a receive
 *   timeout, not with a deadline each);
 * - a session whose socket has read nothing for a second is sent a PING, and destroyed if none comes
 *   back. This closes connections the server has given up on without closing them: on Node 20, a
 *   header field longer than nghttp2's 64 KiB makes it send GOAWAY(COMPRESSION_ERROR) and stop
 *   reading, and the socket stayed open (CLOSE-WAIT) forever. Node 24 closes those itself.
 */
export class Http2SessionGuard {
  readonly #options: SessionGuardOptions;
  readonly #sessions = new Map<http2.ServerHttp2Session, SessionWatch>();
  /**
   * Requests still arriving, by generation of half a receive timeout, newest first: what is left
   * of the last one when a new one begins has been arriving for a whole receive timeout or more.
   */
  #requestGenerations = [new Map<http2.ServerHttp2Stream, RequestWatch>(), new Map<http2.ServerHttp2Stream, RequestWatch>(), new Map<http2.ServerHttp2Stream, RequestWatch>()];
  #generationStartedAt = Date.now();
  readonly #pingWaitMs: number;
  readonly #timer: NodeJS.Timeout;
  /** One 'end' listener for every stream (no closure per call); `this` is the stream. */
  readonly #onRequestEnd: (this: http2.ServerHttp2Stream) => void;

  constructor(options: SessionGuardOptions) {
    this.#options = options;
    this.#pingWaitMs = Math.min(MAX_PING_WAIT_MS, options.receiveTimeoutMs);
    const sweepMs = Math.max(25, Math.min(1000, Math.floor(Math.min(options.idleTimeoutMs, options.receiveTimeoutMs) / 4)));
    this.#timer = setInterval(() => this.#sweep(), sweepMs);
    this.#timer.unref();
    const guard = this;
    this.#onRequestEnd = function (this: http2.ServerHttp2Stream) {
      for (const generation of guard.#requestGenerations) if (generation.delete(this)) return;
    };
  }

  /**
   * Watches every session of `server`. With `countStreams`, the guard counts streams itself;
   * otherwise the server's stream listener must call `streamOpened` for each stream.
   */
  watch(server: http2.Http2Server | http2.Http2SecureServer, options: { countStreams: boolean }): void {
    server.on("session", (session: http2.ServerHttp2Session) => this.#add(session));
    if (options.countStreams) server.on("stream", (stream: http2.ServerHttp2Stream) => this.streamOpened(stream));
  }

  /** Counts a stream against its session's idleness until it closes. */
  streamOpened(stream: http2.ServerHttp2Stream): void {
    const watch = this.#sessions.get(stream.session as http2.ServerHttp2Session);
    if (!watch) return;
    watch.streams++;
    stream.on("close", watch.onStreamClose);
  }

  /**
   * Calls `watch.onTimeout(stream, watch.context)` if the request on `stream` is not complete within
   * the receive timeout (pass one shared object per method: nothing is allocated per call). A request
   * is forgotten as soon as it ends: holding every finished call until the next sweep cost a fifth of
   * the VerifyKey throughput in garbage collection and doubled the RSS.
   */
  expectRequest(stream: http2.ServerHttp2Stream, watch: RequestWatch): void {
    this.#requestGenerations[0]!.set(stream, watch);
    stream.on("end", this.#onRequestEnd);
  }

  /** Sessions being watched (tests, shutdown). */
  get sessions(): readonly http2.ServerHttp2Session[] {
    return [...this.#sessions.keys()];
  }

  /** GOAWAY to every session (shutdown); streams in flight may finish. */
  closeSessions(): void {
    for (const watch of this.#sessions.values()) this.#beginClose(watch, Date.now());
  }

  /** Stops watching and destroys every session (a forced close). */
  stop(): void {
    this.#stopWatching((session) => session.destroy());
  }

  /**
   * Stops watching after a graceful shutdown: a session already closing is left to flush its last
   * frames (on Node 24, destroying it right after its close callback drops the final trailers and the
   * client sees RST_STREAM CANCEL); one not closing is destroyed.
   */
  stopAfterShutdown(): void {
    this.#stopWatching((session) => {
      if (!session.closed) session.destroy();
    });
  }

  #stopWatching(end: (session: http2.ServerHttp2Session) => void): void {
    clearInterval(this.#timer);
    for (const watch of this.#sessions.values()) end(watch.session);
    this.#sessions.clear();
    for (const generation of this.#requestGenerations) generation.clear();
  }

  #add(session: http2.ServerHttp2Session): void {
    const now = Date.now();
    const watch: SessionWatch = {
      session,
      openedAt: now,
      settled: false,
      streams: 0,
      idleSince: now,
      closingSince: undefined,
      seenBytes: -1,
      quietSince: now,
      answeredAt: -1,
      pingSentAt: undefined,
      onStreamClose: () => {
        if (--watch.streams === 0) watch.idleSince = Date.now();
      },
    };
    this.#sessions.set(session, watch);
    session.once("remoteSettings", () => {
      watch.settled = true;
    });
    session.once("close", () => this.#sessions.delete(session));
    // Errors end in 'close'; without a listener an 'error' would be thrown.
    session.on("error", () => {});
  }

  #sweep(): void {
    const now = Date.now();
    for (const watch of this.#sessions.values()) {
      const { session } = watch;
      if (session.destroyed) {
        this.#sessions.delete(session);
      } else if (!watch.settled) {
        if (now - watch.openedAt >= this.#options.receiveTimeoutMs) this.#drop(watch, "no HTTP/2 SETTINGS within the receive timeout", "debug");
      } else if (watch.closingSince !== undefined) {
        if (now - watch.closingSince >= CLOSE_GRACE_MS) this.#drop(watch, "streams still open after GOAWAY", "debug");
      } else if (watch.streams === 0 && now - watch.idleSince >= this.#options.idleTimeoutMs) {
        this.#beginClose(watch, now);
      } else {
        this.#probe(watch, now);
      }
    }
    if (now - this.#generationStartedAt >= this.#options.receiveTimeoutMs / 2) {
      const expired = this.#requestGenerations.pop()!;
      this.#requestGenerations.unshift(new Map());
      this.#generationStartedAt = now;
      for (const [stream, watch] of expired) {
        if (!(stream.readableEnded || stream.closed || stream.destroyed)) watch.onTimeout(stream, watch.context);
      }
    }
  }

  /** PING a quiet session once per quiet spell; destroy it if the answer does not come. */
  #probe(watch: SessionWatch, now: number): void {
    const read = watch.session.socket.bytesRead;
    if (read !== watch.seenBytes) {
      watch.seenBytes = read;
      watch.quietSince = now;
      return;
    }
    if (watch.pingSentAt !== undefined) {
      if (now - watch.pingSentAt >= this.#pingWaitMs) this.#drop(watch, "no PING answer: the connection stopped reading", "info");
      return;
    }
    if (read === watch.answeredAt || now - watch.quietSince < QUIET_BEFORE_PING_MS) return;
    watch.pingSentAt = now;
    try {
      watch.session.ping((err) => {
        watch.pingSentAt = undefined;
        if (!err) watch.answeredAt = watch.session.destroyed ? -1 : watch.session.socket.bytesRead;
      });
    } catch {
      this.#drop(watch, "PING could not be sent", "debug");
    }
  }

  #beginClose(watch: SessionWatch, now: number): void {
    if (watch.closingSince !== undefined || watch.session.destroyed) return;
    watch.closingSince = now;
    watch.session.close();
  }

  #drop(watch: SessionWatch, why: string, level: "debug" | "info"): void {
    this.#sessions.delete(watch.session);
    const socket = watch.session.socket;
    this.#options.log[level]({ listener: this.#options.listener, peer: socket?.remoteAddress, why }, "closed an HTTP/2 connection");
    watch.session.destroy();
  }
}
