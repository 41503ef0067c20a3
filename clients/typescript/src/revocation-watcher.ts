import { durationFromMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { SigilClient } from "./create-client.js";
import type { SigningKeyState } from "./gen/sigil/v1/signing_key_pb.js";

export interface RevocationWatcherOptions {
  readonly client: SigilClient;
  /** `Bearer <key with sigil:verify>`, sent on every WatchRevocations call. */
  readonly authorization: string;
  /** Without a cursor (first start, or the cursor fell out of the feed's retention) replay from now minus this. */
  readonly replayMs: number;
  /** Heartbeat interval asked of the server. A stream silent for three of them is dropped and reopened. */
  readonly heartbeatMs: number;
  /** Reconnect back-off: first delay and cap, doubled per failed attempt, with jitter. */
  readonly reconnect: { readonly initialMs: number; readonly maxMs: number };
  readonly now: () => number;
  readonly onRevocation: (keyId: string, revokeTimeMs: number) => void;
  /** A JWT signing key was added, retired or revoked (before the response's revocations are applied). */
  readonly onSigningKeyChange?: (kid: string, state: SigningKeyState, changeTimeMs: number) => void;
  /** Every stream failure (for logging); the watcher reconnects by itself. */
  readonly onError?: (err: ConnectError) => void;
}

/**
 * Follows WatchRevocations for as long as it is open: resumes with its last cursor after a drop, so
 * it misses nothing, and replays from a start time when it has no usable cursor. `lastCurrentAt`
 * says when the server last confirmed this watcher was up to date.
 */
export class RevocationWatcher {
  readonly #o: RevocationWatcherOptions;
  readonly #closed = new AbortController();
  #cursor: string | undefined;
  #lastCurrentAt = -Infinity;
  #connected = false;
  #loop: Promise<void> | undefined;
  #lastError: ConnectError | undefined;
  /** Set when the server refused the credential before the watcher was ever current: it stopped. */
  #refused: ConnectError | undefined;
  readonly #readyWaiters = new Set<{ resolve: () => void; reject: (err: Error) => void }>();

  constructor(options: RevocationWatcherOptions) {
    this.#o = options;
  }

  /** When (local clock) the last response with a cursor arrived; -Infinity before the first. */
  get lastCurrentAt(): number {
    return this.#lastCurrentAt;
  }

  get connected(): boolean {
    return this.#connected;
  }

  get cursor(): string | undefined {
    return this.#cursor;
  }

  get lastError(): ConnectError | undefined {
    return this.#lastError;
  }

  /** Starts following the feed (again, after the credential was refused). */
  start(): void {
    if (this.#refused && !this.#closed.signal.aborted) {
      // The loop ended when the credential was refused; the caller may have fixed it server-side.
      this.#refused = undefined;
      this.#loop = undefined;
    }
    this.#loop ??= this.#run();
  }

  /**
   * Resolves once the watcher is current (first cursor received). Rejects after `timeoutMs`, or at
   * once with the server's error when it refuses the credential (UNAUTHENTICATED, PERMISSION_DENIED):
   * retrying would not change that answer.
   */
  ready(timeoutMs: number): Promise<void> {
    if (this.#lastCurrentAt > -Infinity) return Promise.resolve();
    if (this.#refused) return Promise.reject(this.#refused);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          this.#readyWaiters.delete(waiter);
          resolve();
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          this.#readyWaiters.delete(waiter);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        const cause = this.#lastError ? `: ${this.#lastError.message}` : "";
        waiter.reject(new Error(`WatchRevocations did not start within ${timeoutMs} ms${cause}`));
      }, timeoutMs);
      this.#readyWaiters.add(waiter);
    });
  }

  async close(): Promise<void> {
    this.#closed.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { client, heartbeatMs, reconnect, now } = this.#o;
    let failures = 0;
    while (!this.#closed.signal.aborted) {
      const call = new AbortController();
      const stopCall = () => call.abort();
      this.#closed.signal.addEventListener("abort", stopCall, { once: true });
      let watchdog: NodeJS.Timeout | undefined;
      const rearm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => call.abort(new ConnectError("no response within three heartbeat intervals", Code.DeadlineExceeded)), heartbeatMs * 3);
        watchdog.unref();
      };
      try {
        rearm();
        const start = this.#cursor
          ? { case: "cursor" as const, value: this.#cursor }
          : { case: "startTime" as const, value: timestampFromMs(now() - this.#o.replayMs) };
        const stream = client.watchRevocations(
          { start, heartbeatInterval: durationFromMs(heartbeatMs) },
          { signal: call.signal, headers: { authorization: this.#o.authorization } },
        );
        for await (const res of stream) {
          rearm();
          this.#connected = true;
          for (const c of res.signingKeyChanges) this.#o.onSigningKeyChange?.(c.kid, c.state, c.changeTime ? timestampMs(c.changeTime) : now());
          for (const r of res.revocations) this.#o.onRevocation(r.keyId, r.revokeTime ? timestampMs(r.revokeTime) : now());
          // Mid-replay responses have no cursor: the watcher is not current until the replay ends.
          if (res.cursor) {
            this.#cursor = res.cursor;
            this.#lastCurrentAt = now();
            failures = 0;
            for (const waiter of [...this.#readyWaiters]) waiter.resolve();
          }
        }
      } catch (err) {
        if (this.#closed.signal.aborted) break;
        const e = ConnectError.from(err);
        this.#lastError = e;
        // The cursor fell out of the feed's retention (or came from another deployment): resync.
        if (e.code === Code.FailedPrecondition) this.#cursor = undefined;
        this.#o.onError?.(e);
        // Refused before it ever worked (a wrong key, or one without the scope): a permanent answer,
        // so stop and fail start() now. A watcher that was current keeps retrying (failing closed).
        if ((e.code === Code.Unauthenticated || e.code === Code.PermissionDenied) && this.#lastCurrentAt === -Infinity) {
          this.#refused = e;
          for (const waiter of [...this.#readyWaiters]) waiter.reject(e);
        }
      } finally {
        clearTimeout(watchdog);
        this.#connected = false;
        this.#closed.signal.removeEventListener("abort", stopCall);
      }
      if (this.#closed.signal.aborted || this.#refused) break;
      // Also after a clean end, so a server that keeps ending streams cannot cause a busy loop;
      // `failures` was reset by the last good response, so a healthy stream reconnects quickly.
      failures++;
      await this.#sleep(backoffMs(failures, reconnect.initialMs, reconnect.maxMs));
    }
  }

  #sleep(ms: number): Promise<void> {
    const signal = this.#closed.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

/** Exponential back-off with "equal jitter": between half and all of min(max, initial * 2^(n-1)). */
export function backoffMs(failures: number, initialMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 30));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
