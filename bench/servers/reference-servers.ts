// Starts the bare reference servers (bench/reference/*) pinned to the server core.
import { fileURLToPath } from "node:url";
import { PinnedProcess } from "./pinned-process.js";

export type ReferenceServerKind = "bare-grpc" | "bare-connect";

export interface ReferenceServer {
  kind: ReferenceServerKind;
  process: PinnedProcess;
  port: number;
}

const READY_TIMEOUT_MS = 30_000;

export async function startReferenceServer(kind: ReferenceServerKind, cpus: string | undefined, logFile: string): Promise<ReferenceServer> {
  const script = fileURLToPath(new URL(`../reference/${kind}.js`, import.meta.url));
  const server = new PinnedProcess({ name: kind, cpus, command: process.execPath, args: [script, "--port", "0"], logFile });
  try {
    const [, port] = await server.waitForLine(/^listening (\d+)$/, READY_TIMEOUT_MS);
    return { kind, process: server, port: Number(port) };
  } catch (err) {
    await server.stop();
    throw err;
  }
}
