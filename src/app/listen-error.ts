import type { HostPort } from "../config/config.js";
import { settingLabel, StartupError } from "./startup-error.js";

/** What the usual listen(2) failures mean to an operator. */
const REASONS: Record<string, string> = {
  EADDRINUSE: "address in use",
  EACCES: "permission denied (ports below 1024 need privileges)",
  EADDRNOTAVAIL: "address not available on this machine",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name could not be resolved",
  EAI_NONAME: "host name not found",
};

/**
 * One line for a listener that could not bind: `SIGIL_GRPC_ADDR (--grpc-addr) 127.0.0.1:4420:
 * address in use`. grpc-js reports bind errors as text (`No address added out of total 1
 * resolved errors: [listen EADDRINUSE: …]`) and http as an errno code; both are read here.
 */
export function listenError(setting: { readonly env: string; readonly flag: string }, address: HostPort, err: unknown): StartupError {
  const e = err as { code?: unknown; message?: unknown } | null;
  const text = `${typeof e?.code === "string" ? e.code : ""} ${typeof e?.message === "string" ? e.message : String(err)}`;
  const code = Object.keys(REASONS).find((c) => new RegExp(`\\b${c}\\b`).test(text));
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  const reason = code ? REASONS[code]! : `cannot listen (${text.trim().split("\n")[0]})`;
  return new StartupError(`${settingLabel(setting)} ${host}:${address.port}: ${reason}`);
}
