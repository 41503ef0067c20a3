import { randomFillSync } from "node:crypto";
import type { IdGenerator } from "@opentelemetry/sdk-trace-base";

/** Hex characters drawn per refill: 512 span ids' worth, so the system's random source is asked rarely. */
const POOL_HEX_CHARS = 8192;
const INVALID_TRACE_ID = "0".repeat(32);
const INVALID_SPAN_ID = "0".repeat(16);

/**
 * Trace and span ids cut from a pool of random hex, refilled from the CSPRNG: one `randomFillSync`
 * and one hex encoding per 512 spans instead of an encoding per id (the SDK's RandomIdGenerator
 * writes Math.random() words into a buffer and hex-encodes it for every id). A slice of the pool is
 * a cheap substring. All-zero ids are invalid in W3C Trace Context, so one is drawn again.
 */
export class PooledIdGenerator implements IdGenerator {
  readonly #bytes = Buffer.alloc(POOL_HEX_CHARS / 2);
  #hex = "";
  #at = POOL_HEX_CHARS;

  #take(chars: number): string {
    if (this.#at + chars > POOL_HEX_CHARS) {
      randomFillSync(this.#bytes);
      this.#hex = this.#bytes.toString("hex");
      this.#at = 0;
    }
    const id = this.#hex.slice(this.#at, this.#at + chars);
    this.#at += chars;
    return id;
  }

  generateTraceId(): string {
    const id = this.#take(32);
    return id === INVALID_TRACE_ID ? this.generateTraceId() : id;
  }

  generateSpanId(): string {
    const id = this.#take(16);
    return id === INVALID_SPAN_ID ? this.generateSpanId() : id;
  }
}
