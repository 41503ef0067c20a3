const UNITS: Record<string, number> = { "": 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** "64MiB", "512KiB", "1GiB" or a plain number of bytes; undefined when it is none of those. */
export function parseByteSize(text: string): number | undefined {
  const m = /^(\d{1,12})\s?(B|KiB|MiB|GiB)?$/i.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNITS[(m[2] ?? "").toLowerCase()]!;
}

/** Bytes as the largest binary unit that divides them ("64MiB"), for messages and logs. */
export function formatByteSize(bytes: number): string {
  for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}
