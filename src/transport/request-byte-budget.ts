/**
 * Bytes a listener may hold at once for requests that have not fully arrived. Per-method limits
 * bound one call, connection and stream limits bound how many calls, but their product is large
 * (1,000 connections × 100 streams × 1 MiB); this bounds the sum. A call that would go over it is
 * refused with RESOURCE_EXHAUSTED, so an unauthenticated flood of unfinished messages cannot grow
 * the process past it. A request that arrives whole in one read takes nothing from it.
 */
export class RequestByteBudget {
  readonly capacity: number;
  #used = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get used(): number {
    return this.#used;
  }

  tryReserve(bytes: number): boolean {
    if (this.#used + bytes > this.capacity) return false;
    this.#used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}

/** The error text when the budget is spent. */
export const BUDGET_SPENT_MESSAGE = "the server holds too many unfinished requests; try again";
