import { createServer } from "node:net";

/** A TCP port on 127.0.0.1 that was free a moment ago, for a process that takes its port in a config file. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}
