import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { AuditAction, ListAuditEventsResponseSchema, type AuditEvent } from "../../clients/typescript/src/gen/sigil/v1/audit_pb.js";
import { parseDurationMs } from "../config/duration.js";
import { HELP_OPTION, parseChoice, parseCommandArgs, parseIntegerFlag, parseTimeFlag, UsageError } from "./cli-args.js";
import { connect, CONNECTION_HELP, CONNECTION_OPTIONS } from "./cli-connection.js";
import type { CliContext } from "./cli-context.js";
import { CliOutput, formatEnum, formatTime, OUTPUT_HELP, OUTPUT_OPTIONS } from "./cli-output.js";
import { help } from "./cli-subcommands.js";
import { checkKeyId } from "./key-field-flags.js";
import { resolveTenantFlag, TENANT_HELP, TENANT_OPTION } from "./tenant-flag.js";

const ACTION_CHOICES = {
  issue: AuditAction.ISSUE_KEY,
  update: AuditAction.UPDATE_KEY,
  rotate: AuditAction.ROTATE_KEY,
  revoke: AuditAction.REVOKE_KEY,
  import: AuditAction.IMPORT_KEY,
  "rotate-signing-key": AuditAction.ROTATE_SIGNING_KEY,
  "issue-replay": AuditAction.ISSUE_REPLAY,
  "create-tenant": AuditAction.CREATE_TENANT,
  "update-tenant": AuditAction.UPDATE_TENANT,
  "delete-tenant": AuditAction.DELETE_TENANT,
} as const;

const AUDIT_HELP = `Usage: sigil audit [options]

Lists the audit trail of key changes (who changed which key, how and when), newest first.

Options:
  --key <key-id>            only changes of this key
  --actor <key-id>          only changes made with this admin key
  --action <action>         only this action: ${Object.keys(ACTION_CHOICES).join(", ")}
  --since <time|duration>   only changes at or after a time (2030-01-31T00:00:00Z) or this long ago (24h)
  --until <time|duration>   only changes before a time or this long ago
  --page-size <n>           events per page, 1 to 1000 (default 100)
  --page-token <token>      continue a listing where a previous page ended
  --all                     follow every page to the end

Without --all, one page is printed and the token of the next one is noted on stderr.
With --json, each page is printed as one ListAuditEventsResponse object per line.

${TENANT_HELP}

${OUTPUT_HELP}

${CONNECTION_HELP}
`;

/** `sigil audit`: ListAuditEvents as a table. */
export async function auditCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const options = {
    ...HELP_OPTION,
    ...OUTPUT_OPTIONS,
    ...CONNECTION_OPTIONS,
    key: { type: "string" },
    actor: { type: "string" },
    action: { type: "string" },
    since: { type: "string" },
    until: { type: "string" },
    "page-size": { type: "string" },
    "page-token": { type: "string" },
    all: { type: "boolean" },
    ...TENANT_OPTION,
  } as const;
  const { values } = parseCommandArgs("audit", args, options, { min: 0, max: 0, names: "" });
  if (values.help) return help(ctx, AUDIT_HELP);
  const action = values.action === undefined ? AuditAction.UNSPECIFIED : parseChoice("--action", values.action, ACTION_CHOICES);
  const pageSize = values["page-size"] === undefined ? 0 : parseIntegerFlag("--page-size", values["page-size"], 1, 1000);
  const nowMs = Date.now();
  const startTime = values.since === undefined ? undefined : timeOrAgo("--since", values.since, nowMs);
  const endTime = values.until === undefined ? undefined : timeOrAgo("--until", values.until, nowMs);
  const keyId = values.key === undefined ? "" : checkKeyId(values.key, "--key");
  const actorKeyId = values.actor === undefined ? "" : checkKeyId(values.actor, "--actor");
  const tenantId = resolveTenantFlag(values, ctx);
  const { client, call } = await connect(values, ctx, { admin: true });
  const output = new CliOutput(ctx, values.json === true);
  const rows: string[][] = [];
  const seenTokens = new Set<string>();
  let pageToken = values["page-token"] ?? "";
  for (;;) {
    const page = await client.listAuditEvents(
      { keyId, actorKeyId, action, startTime, endTime, pageSize, pageToken, tenantId },
      call,
    );
    if (output.json) output.message(ListAuditEventsResponseSchema, page);
    else rows.push(...page.events.map(eventRow));
    pageToken = page.nextPageToken;
    if (!values.all || pageToken === "" || seenTokens.has(pageToken)) break;
    seenTokens.add(pageToken);
  }
  if (!output.json) {
    if (rows.length === 0) output.note("no events");
    else output.table(["SEQ", "TIME", "ACTION", "KEY ID", "ACTOR", "DETAILS"], rows);
  }
  if (!values.all && pageToken !== "") output.note(`more events: sigil audit --page-token ${pageToken}`);
  return 0;
}

function eventRow(event: AuditEvent): string[] {
  return [
    String(event.sequence),
    formatTime(event.time),
    event.action === AuditAction.ROTATE_SIGNING_KEY ? "rotate-signing-key" : formatEnum(AuditAction, event.action).replace(/_key$/, ""),
    event.keyId || "-",
    event.actorKeyId || "(server)",
    event.details && Object.keys(event.details).length > 0 ? JSON.stringify(event.details) : "-",
  ];
}

/** An absolute time, or a duration meaning that long before now. */
export function timeOrAgo(flag: string, text: string, nowMs: number): Timestamp {
  if (/^\d/.test(text) && text.includes("T")) return timestampFromDate(parseTimeFlag(flag, text));
  const ms = parseDurationMs(text);
  if (ms === undefined) throw new UsageError(`${flag} must be a time like 2030-01-31T12:00:00Z or a duration like 24h`);
  return timestampFromDate(new Date(nowMs - ms));
}
