import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";

/**
 * grpc-js writes its own errors to stderr as raw text ("E No address added out of total 1
 * resolved"), beside Sigil's one-line start-up errors and outside its JSON log. This sends them into
 * the log instead, as warnings tagged `component: grpc-js`. grpc-js has one logger per process, so
 * the last Sigil built in a process receives them.
 */
export function routeGrpcJsLogs(log: Logger): void {
  const write = (level: "warn" | "info" | "debug") => (message?: unknown, ...rest: unknown[]) =>
    log[level]({ component: "grpc-js" }, [message, ...rest].map((part) => String(part)).join(" "));
  grpc.setLogger({ error: write("warn"), info: write("info"), debug: write("debug") } as Partial<Console>);
}
