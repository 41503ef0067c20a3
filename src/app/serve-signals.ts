/**
 * The signals of a serving process, handled from its first moment rather than once it is up: a
 * SIGTERM or SIGINT that arrives while build() is still starting stops the server as soon as it is
 * up (Node's default would kill it half-started, with no exit code), and SIGHUP never stops it
 * (Node's default for SIGHUP is to exit); once the server is up SIGHUP reloads its TLS files.
 */
export class ServeSignals {
  readonly stopRequested: Promise<string>;
  /** Aborted at the first stop request: start-up stops waiting for its database. */
  readonly startSignal: AbortSignal;
  readonly #abort = new AbortController();
  #requestStop!: (why: string) => void;
  #onHangup: (() => void) | undefined;

  constructor(target: NodeJS.EventEmitter = process) {
    this.startSignal = this.#abort.signal;
    this.stopRequested = new Promise((resolve) => {
      this.#requestStop = (why) => {
        this.#abort.abort();
        resolve(why);
      };
    });
    target.once("SIGTERM", () => this.#requestStop("SIGTERM"));
    target.once("SIGINT", () => this.#requestStop("SIGINT"));
    target.on("SIGHUP", () => this.#onHangup?.());
  }

  /** A stop for another reason (the supervisor went away); the first reason wins. */
  requestStop(why: string): void {
    this.#requestStop(why);
  }

  /** What SIGHUP does from now on (before this: nothing). */
  onHangup(handler: () => void): void {
    this.#onHangup = handler;
  }
}
