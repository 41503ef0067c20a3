import { createReadStream } from "node:fs";
import { CliError } from "./cli-args.js";

export interface Line {
  /** 1-based line number in the file. */
  readonly number: number;
  /** The line without its line break (`\n` or `\r\n`). */
  readonly text: string;
}

/**
 * Streams a file's lines without holding the file in memory. A line longer than `maxLineBytes`
 * is an error rather than an unbounded buffer.
 */
export async function* readLines(file: string, maxLineBytes: number): AsyncGenerator<Line> {
  const stream = createReadStream(file);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let number = 0;
  const take = (tail: Buffer): Line => {
    const all = pending.length === 0 ? tail : Buffer.concat([...pending, tail]);
    pending = [];
    pendingBytes = 0;
    number++;
    const end = all.length > 0 && all[all.length - 1] === 0x0d ? all.length - 1 : all.length;
    return { number, text: all.subarray(0, end).toString("utf8") };
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0;
      for (let nl = chunk.indexOf(0x0a, start); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
        if (pendingBytes + nl - start > maxLineBytes) throw new CliError(`${file}: line ${number + 1} is longer than ${maxLineBytes} bytes`);
        yield take(chunk.subarray(start, nl));
        start = nl + 1;
      }
      const rest = chunk.subarray(start);
      pendingBytes += rest.length;
      if (pendingBytes > maxLineBytes) throw new CliError(`${file}: line ${number + 1} is longer than ${maxLineBytes} bytes`);
      if (rest.length > 0) pending.push(Buffer.from(rest));
    }
    if (pendingBytes > 0) yield take(Buffer.alloc(0));
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  } finally {
    stream.destroy();
  }
}
