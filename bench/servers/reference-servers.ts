// Starts the bare reference servers (bench/reference/*) pinned to the server core.
import { fileURLToPath } from "node:url";
import type { BenchTls } from "../tls-certificates.js";
import { PinnedProcess } from "./pinned-process.js";

export type ReferenceServerKind = "bare-grpc" | "bare-grpc-tls" | "bare-connect";

export interface ReferenceServer {
  kind: ReferenceServerKind;
  process: PinnedProcess;
  port: number;
}

const READY_TIMEOUT_MS = 30_000;

/** `tls` is needed for bare-grpc-tls: bare-grpc over TLS with that certificate. */
export async function startReferenceServer(kind: ReferenceServerKind, cpus: string | undefined, logFile: string, tls?: BenchTls): Promise<ReferenceServer> {
  const script = fileURLToPath(new URL(`../reference/${kind === "bare-grpc-tls" ? "bare-grpc" : kind}.js`, import.meta.url));
  if (kind === "bare-grpc-tls" && !tls) throw new Error("bare-grpc-tls needs certificates");
  const tlsArgs = kind === "bare-grpc-tls" ? ["--tls", tls!.certFile, tls!.keyFile] : [];
  const server = new PinnedProcess({ name: kind, cpus, command: process.execPath, args: [script, "--port", "0", ...tlsArgs], logFile });
  try {
    const [, port] = await server.waitForLine(/^listening (\d+)$/, READY_TIMEOUT_MS);
    return { kind, process: server, port: Number(port) };
  } catch (err) {
    await server.stop();
    throw err;
  }
}
