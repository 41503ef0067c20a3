import { ConnectError } from "@connectrpc/connect";
import type { SigilClient } from "../../clients/typescript/src/index.js";
import type { WatchRevocationsRequest, WatchRevocationsResponse } from "../../clients/typescript/src/gen/sigil/v1/revocation_pb.js";

export type WatchInit = Partial<Pick<WatchRevocationsRequest, "start" | "heartbeatInterval">>;

/** One open WatchRevocations stream, read a response at a time with a deadline. */
export class Watch {
  readonly #abort = new AbortController();
  readonly #it: AsyncIterator<WatchRevocationsResponse>;

  constructor(client: SigilClient, credential: string, req: WatchInit = {}) {
    const stream = client.watchRevocations(req, { signal: this.#abort.signal, headers: { authorization: `Bearer ${credential}` } });
    this.#it = stream[Symbol.asyncIterator]();
  }

  async next(timeoutMs = 5000): Promise<WatchRevocationsResponse> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no WatchRevocations response within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const r = await Promise.race([this.#it.next(), timeout]);
      if (r.done) throw new Error("stream ended");
      return r.value;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads responses until `keyIds` have all been seen; returns the revoked key ids in order and the last cursor. */
  async until(keyIds: string[]): Promise<{ seen: string[]; cursor: string; responses: WatchRevocationsResponse[] }> {
    const seen: string[] = [];
    const responses: WatchRevocationsResponse[] = [];
    let cursor = "";
    while (!keyIds.every((k) => seen.includes(k))) {
      const r = await this.next();
      responses.push(r);
      seen.push(...r.revocations.map((x) => x.keyId));
      if (r.cursor) cursor = r.cursor;
    }
    return { seen, cursor, responses };
  }

  async error(timeoutMs = 5000): Promise<ConnectError> {
    for (;;) {
      try {
        await this.next(timeoutMs);
      } catch (err) {
        return ConnectError.from(err);
      }
    }
  }

  close(): void {
    this.#abort.abort();
  }
}

