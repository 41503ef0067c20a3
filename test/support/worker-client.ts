import { createSigilClient, type SigilClient } from "../../clients/typescript/src/index.js";
import { newKeyId } from "../../src/keys/api-key-format.js";
import { codeOf } from "./call-outcome.js";
import type { SigilProcess } from "./sigil-process.js";

/**
 * A client whose connection the supervisor of `sigil serve --workers N` handed to worker `pid`
 * (connections go round robin): each try makes a GetKey of a made-up key id on a new connection and
 * reads which worker logged it.
 */
export async function clientOnWorker(server: SigilProcess, url: string, pid: number, adminKey: string): Promise<SigilClient> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const client = createSigilClient({ baseUrl: url, adminKey });
    const marker = newKeyId();
    await codeOf(client.getKey({ keyId: marker }));
    const line = await server.waitFor(`the log line of ${marker}`, () => server.logs().find((l) => l.msg === "call" && l.keyId === marker));
    if (line.pid === pid) return client;
  }
  throw new Error(`no connection reached worker ${pid}`);
}
