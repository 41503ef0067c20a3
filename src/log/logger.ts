import pino, { type DestinationStream, type Logger } from "pino";
import type { LogLevel } from "../config/config.js";

/**
 * Paths pino blanks out wherever they appear, as a second line of defence: Sigil never passes a
 * secret to the logger in the first place (the tests check the output for every secret they make).
 */
export const REDACTED_PATHS = [
  "secret",
  "*.secret",
  "key",
  "*.key",
  "token",
  "*.token",
  "credential",
  "*.credential",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
  "serverSecret",
  "*.serverSecret",
  "privateKey",
  "*.privateKey",
];

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "sigil", pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
