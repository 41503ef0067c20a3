// `serve --workers N` is SERVING once its first worker is; the others start after it. A run that
// began then would measure fewer workers than it claims, so the harness waits until every worker
// holds a connection: node:cluster's round robin hands accepted connections only to workers that
// listen, so when each of N workers owns one of 2N fresh connections, all N are serving.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { childPids } from "./proc-stats.js";

const POLL_MS = 200;

/** Inodes of the established IPv4/IPv6 TCP sockets whose local port is `port`. */
function establishedSocketInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const localPort = parseInt(fields[1]!.split(":")[1]!, 16);
      // State 01 is ESTABLISHED.
      if (localPort === port && fields[3] === "01") inodes.add(fields[9]!);
    }
  }
  return inodes;
}

function socketInodesOf(pid: number): Set<string> {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const match = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
        if (match) inodes.add(match[1]!);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // process gone
  }
  return inodes;
}

function openConnections(port: number, count: number): Promise<Socket[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(port, "127.0.0.1", () => resolve(socket));
          socket.once("error", reject);
        }),
    ),
  );
}

/** Waits until `workers` children of `supervisorPid` each hold a connection to `port`. */
export async function waitForEveryWorker(supervisorPid: number, workers: number, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const children = childPids(supervisorPid);
    if (children.length >= workers) {
      const sockets = await openConnections(port, 2 * workers);
      try {
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        const established = establishedSocketInodes(port);
        const serving = children.filter((pid) => [...socketInodesOf(pid)].some((inode) => established.has(inode)));
        if (serving.length >= workers) return;
      } finally {
        sockets.forEach((socket) => socket.destroy());
      }
    } else {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
  throw new Error(`not all ${workers} workers were serving within ${timeoutMs / 1000} s`);
}
