export type WakeReason = "changed" | "timeout" | "aborted";

/**
 * Lets one stream sleep until the change feed has news, a timeout passes or its signal aborts.
 * A notification that arrives while the stream is busy is remembered, so none is lost.
 */
export class FeedWakeup {
  #pending = false;
  #wake: (() => void) | undefined;

  /** Called by the feed subscription when new changes were applied. */
  notify(): void {
    if (this.#wake) this.#wake();
    else this.#pending = true;
  }

  wait(timeoutMs: number, signal: AbortSignal): Promise<WakeReason> {
    if (signal.aborted) return Promise.resolve("aborted");
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve("changed");
    }
    return new Promise((resolve) => {
      const finish = (reason: WakeReason) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.#wake = undefined;
        resolve(reason);
      };
      const onAbort = () => finish("aborted");
      const timer = setTimeout(() => finish("timeout"), Math.max(0, timeoutMs));
      signal.addEventListener("abort", onAbort, { once: true });
      this.#wake = () => finish("changed");
    });
  }
}
