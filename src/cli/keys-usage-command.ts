import { durationFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { GetKeyUsageResponseSchema } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { DEFAULT_USAGE_BUCKET_MS, DEFAULT_USAGE_RANGE_MS, MAX_USAGE_BUCKET_MS, requireUsageBucket, usageRange } from "../service/usage-query.js";
import { USAGE_MINUTE_MS } from "../store/usage-repository.js";
import { timeOrAgo } from "./audit-command.js";
import { HELP_OPTION, parseCommandArgs, parseDurationFlag, UsageError } from "./cli-args.js";
import { connect, CONNECTION_HELP, CONNECTION_OPTIONS } from "./cli-connection.js";
import type { CliContext } from "./cli-context.js";
import { CliOutput, OUTPUT_HELP, OUTPUT_OPTIONS } from "./cli-output.js";
import { help, type Subcommand } from "./cli-subcommands.js";
import { checkFlag } from "./flag-checks.js";
import { checkKeyId } from "./key-field-flags.js";
import { renderUsageReport } from "./usage-chart.js";

const USAGE_HELP = `Usage: sigil keys usage <key-id> [options]
       sigil keys usage --unattributed [options]

Shows how often a key was verified (VerifyKey, BatchVerifyKeys), per time bucket: valid and
failed verifications, the failure reasons, a sparkline and a bar per bucket. Counts are summed
over every Sigil process and appear within SIGIL_LAST_USE_FLUSH_INTERVAL (default 5s).

Options:
  --since <time|duration>   start: a time (2030-01-31T00:00:00Z) or this long ago (default 24h)
  --until <time|duration>   end: a time or this long ago (default now)
  --bucket <duration>       bucket width, whole minutes: 1m, 5m, 1h, 1d (default 1h); at most
                            1440 buckets per call
  --unattributed            the verifications that named no existing key (malformed
                            credentials, unknown key ids, bad signatures) instead of one key's
  --no-color                plain ASCII, no colours (also when the output is not a terminal,
                            or NO_COLOR is set)

With --json, the answer is printed as one GetKeyUsageResponse object.

${OUTPUT_HELP}

${CONNECTION_HELP}
`;

/** The range flags name the request fields they set. */
const RANGE_FLAGS = { bucket: "--bucket", start_time: "--since", end_time: "--until" };

/** `sigil keys usage`: GetKeyUsage as a table and a chart. */
export const usage: Subcommand = {
  summary: "show how often a key was verified, per time bucket and outcome",
  async run(args, ctx) {
    const options = {
      ...HELP_OPTION,
      ...OUTPUT_OPTIONS,
      ...CONNECTION_OPTIONS,
      since: { type: "string" },
      until: { type: "string" },
      bucket: { type: "string" },
      unattributed: { type: "boolean" },
      "no-color": { type: "boolean" },
    } as const;
    const { values, positionals } = parseCommandArgs("keys usage", args, options, { min: 0, max: 1, names: "one <key-id>" });
    if (values.help) return help(ctx, USAGE_HELP);
    const unattributed = values.unattributed === true;
    if (unattributed && positionals.length > 0) throw new UsageError("keys usage: give a <key-id> or --unattributed, not both");
    if (!unattributed && positionals.length === 0) throw new UsageError("keys usage: expected one <key-id> (or --unattributed)");
    const keyId = unattributed ? "" : checkKeyId(positionals[0]!);
    const bucketMs =
      values.bucket === undefined
        ? DEFAULT_USAGE_BUCKET_MS
        : checkFlag("--bucket", () => requireUsageBucket(parseDurationFlag("--bucket", values.bucket!, USAGE_MINUTE_MS, MAX_USAGE_BUCKET_MS)));
    const nowMs = Date.now();
    const endTime = values.until === undefined ? undefined : timeOrAgo("--until", values.until, nowMs);
    const startTime = timeOrAgo("--since", values.since ?? `${DEFAULT_USAGE_RANGE_MS / 3_600_000}h`, nowMs);
    // The server's own check of the range and the bucket count, before anything is sent.
    checkFlag(RANGE_FLAGS, () => usageRange(Number(timestampMs(startTime)), endTime ? Number(timestampMs(endTime)) : nowMs, bucketMs));
    const { client, call } = await connect(values, ctx, { admin: true });
    const response = await client.getKeyUsage({ keyId, unattributed, startTime, endTime, bucket: durationFromMs(bucketMs) }, call);
    const output = new CliOutput(ctx, values.json === true);
    if (output.json) {
      output.message(GetKeyUsageResponseSchema, response);
      return 0;
    }
    const terminal = (ctx.out as { isTTY?: boolean }).isTTY === true;
    const fancy = terminal && values["no-color"] !== true && !ctx.env["NO_COLOR"];
    // Written as is: every character is the report's own (numbers, times, reason names), none from stored text.
    ctx.out.write(renderUsageReport(response, { fancy }));
    return 0;
  },
};
