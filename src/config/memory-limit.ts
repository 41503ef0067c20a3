// SIGIL_MEMORY_LIMIT: one figure an operator knows (the memory a process may use) sizing the two
// things that make up most of a serving process's memory: V8's heap and the key cache within it.
// Without a cap V8 sizes its heap from the machine's memory and, with plenty of it, defers
// collection: a process with ~90 MB live was measured at 335–362 MB peak RSS, and 243 MB with the
// heap capped at 192 MB (issue #14).
import v8 from "node:v8";

export const MIB = 1024 ** 2;
export const GIB = 1024 ** 3;
/** Code, native memory (SQLite, sockets, buffers) and the young generation: the part of RSS outside V8's old space. */
export const NON_HEAP_BYTES = 64 * MIB;
/** Below this the heap left over would not hold a working server. */
export const MIN_MEMORY_LIMIT = 128 * MIB;
const DEFAULT_CACHE_MEMORY = 64 * MIB;

/** The key cache's byte bound when SIGIL_CACHE_MEMORY is not given. */
export function defaultCacheMemory(memoryLimitBytes: number | undefined): number {
  return memoryLimitBytes === undefined ? DEFAULT_CACHE_MEMORY : Math.floor(memoryLimitBytes / 4);
}

/** V8's old-space size (`--max-old-space-size`, in MiB) for a memory limit. */
export function heapLimitMb(memoryLimitBytes: number): number {
  return Math.floor((memoryLimitBytes - NON_HEAP_BYTES) / MIB);
}

/** The node flag that caps a serving process's heap for the limit. */
export function heapLimitFlag(memoryLimitBytes: number): string {
  return `--max-old-space-size=${heapLimitMb(memoryLimitBytes)}`;
}

/** This process's heap limit in MiB as V8 reports it (its old space plus its young generation). */
export function currentHeapLimitMb(): number {
  return Math.round(v8.getHeapStatistics().heap_size_limit / MIB);
}

/** The old-space cap this node was started with (`--max-old-space-size` in its flags or NODE_OPTIONS), in MiB. */
export function startedHeapCapMb(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ""): number | undefined {
  let cap: number | undefined;
  for (const arg of [...nodeOptions.split(/\s+/), ...execArgv]) {
    const m = /^--max[-_]old[-_]space[-_]size=(\d+)$/.exec(arg);
    if (m) cap = Number(m[1]);
  }
  return cap;
}

/**
 * Whether this process's heap may grow beyond what the limit allows, so that serving in it would
 * not keep to the limit: V8 fixes the heap's size when a process starts, so `serve` then runs its
 * worker in a process of its own started with the flag. A node already started with a cap at or
 * below the limit's (NODE_OPTIONS=--max-old-space-size=…) serves in-process.
 */
export function heapAboveLimit(memoryLimitBytes: number): boolean {
  const cap = startedHeapCapMb();
  return cap === undefined || cap > heapLimitMb(memoryLimitBytes);
}
