import { Code, ConnectError } from "@connectrpc/connect";
import { UsageError } from "./cli-args.js";

/**
 * Flag names for request fields: a field path (or a prefix of one) to the flag that sets it. The
 * longest matching prefix wins, so `rate_limit.burst` can name another flag than `rate_limit`.
 */
export type FlagNames = Readonly<Record<string, string>>;

/**
 * Runs one of the server's own input checks (src/service/request-validation.ts and friends) on
 * what the flags give, before anything is sent, so the CLI refuses exactly what the server would,
 * and says so naming the flag rather than the request field: `--name: must be 1 to 128 characters`.
 */
export function checkFlag<T>(flags: string | FlagNames, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.InvalidArgument) throw new UsageError(flagMessage(flags, err.rawMessage));
    throw err;
  }
}

/** `field[i]: must be …` → `--flag must be …`; other messages keep their colon. */
function flagMessage(flags: string | FlagNames, message: string): string {
  const m = /^([a-z_.]+)(?:\[[^\]]*\])*: (.*)$/s.exec(message);
  if (!m) return message;
  const [, field, rest] = m as unknown as [string, string, string];
  const flag = typeof flags === "string" ? flags : flagFor(flags, field);
  return `${flag}${rest.startsWith("must ") ? " " : ": "}${rest}`;
}

function flagFor(flags: FlagNames, field: string): string {
  let best = "";
  for (const prefix of Object.keys(flags)) {
    if ((field === prefix || field.startsWith(`${prefix}.`)) && prefix.length > best.length) best = prefix;
  }
  return best ? flags[best]! : field;
}
