import { readFileSync } from "node:fs";

/** Linux TCP states in /proc/net/tcp{,6}, by their hex code. */
const STATES: Record<string, string> = {
  "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
  "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
};

/**
 * The states of the server-side sockets on local port `port` (what `ss -tan sport = :port` shows),
 * optionally only those talking to remote port `remotePort`. LISTEN and TIME_WAIT (no descriptor
 * behind them) are left out.
 */
export function serverSocketStates(port: number, remotePort?: number): string[] {
  const states: string[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4) continue;
      const local = Number.parseInt(fields[1]!.split(":")[1]!, 16);
      const remote = Number.parseInt(fields[2]!.split(":")[1]!, 16);
      const state = STATES[fields[3]!] ?? fields[3]!;
      if (local !== port || state === "LISTEN" || state === "TIME_WAIT") continue;
      if (remotePort !== undefined && remote !== remotePort) continue;
      states.push(state);
    }
  }
  return states;
}
