import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { KeyStatus } from "../../clients/typescript/src/gen/sigil/v1/key_pb.js";
import {
  GetKeyResponseSchema,
  IssueKeyRequestSchema,
  IssueKeyResponseSchema,
  ListKeysResponseSchema,
  RevokeKeyResponseSchema,
} from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { RotateKeyResponseSchema } from "../../clients/typescript/src/gen/sigil/v1/key_lifecycle_pb.js";
import { LIMITS, requireBoundedText } from "../service/request-validation.js";
import { HELP_OPTION, parseChoice, parseCommandArgs, parseDurationFlag, parseExpireTimeFlag, parseIntegerFlag, UsageError } from "./cli-args.js";
import { connect, CONNECTION_HELP, CONNECTION_OPTIONS, readSecretFile } from "./cli-connection.js";
import type { CliContext } from "./cli-context.js";
import { CliOutput, KEY_TABLE_HEADERS, keyFields, keyTableRow, OUTPUT_HELP, OUTPUT_OPTIONS } from "./cli-output.js";
import { help, runSubcommand, type Subcommand } from "./cli-subcommands.js";
import { KEY_LIMIT_HELP, KEY_LIMIT_OPTIONS, parseKeyLimits } from "./key-limit-flags.js";
import { checkFlag } from "./flag-checks.js";
import { checkKeyId, checkMetadata, checkName, checkOwner, checkScopes } from "./key-field-flags.js";
import { importKeys } from "./keys-import-command.js";
import { resolveTenantFlag, TENANT_HELP, TENANT_OPTION } from "./tenant-flag.js";
import { update } from "./keys-update-command.js";
import { usage } from "./keys-usage-command.js";

const COMMON = { ...HELP_OPTION, ...OUTPUT_OPTIONS, ...CONNECTION_OPTIONS } as const;
const COMMON_HELP = `${OUTPUT_HELP}\n\n${CONNECTION_HELP}\n`;

const STATUS_CHOICES = { active: KeyStatus.ACTIVE, disabled: KeyStatus.DISABLED, revoked: KeyStatus.REVOKED, expired: KeyStatus.EXPIRED } as const;

const ISSUE_HELP = `Usage: sigil keys issue --name <name> --owner <owner> [options]

Issues an API key and prints its record and its secret. The secret is shown only this once.

Options:
  --name <name>             human-readable name (required)
  --owner <owner>           service, job or agent holding the key, e.g. svc:billing (required)
  --scope <scope>           a scope to grant; repeat it or give a comma-separated list
  --meta <key=value>        a metadata label; repeat for several
  --ttl <duration>          lifetime, e.g. 90d or 12h (default: no expiry)
  --expire-time <time>      absolute expiry, e.g. 2030-01-31T00:00:00Z (instead of --ttl)
  --request-id <id>         idempotency token: a retry with the same id returns the same key

${KEY_LIMIT_HELP}

${TENANT_HELP}

${COMMON_HELP}`;

const GET_HELP = `Usage: sigil keys get <key-id> [options]

Prints the public record of one key (never its secret).

${COMMON_HELP}`;

const LIST_HELP = `Usage: sigil keys list [options]

Lists keys, newest first.

Options:
  --owner <owner>           only keys held by this owner
  --status <status>         only keys in this status: active, disabled, revoked or expired
  --page-size <n>           keys per page, 1 to 1000 (default 100)
  --page-token <token>      continue a listing where a previous page ended
  --all                     follow every page to the end

Without --all, one page is printed and the token of the next one is noted on stderr.
With --json, each page is printed as one ListKeysResponse object per line.

${TENANT_HELP}

${COMMON_HELP}`;

const ROTATE_HELP = `Usage: sigil keys rotate <key-id> [options]

Gives the key a new secret and prints it (shown only this once). Id, scopes, metadata and limits
stay. The old secret keeps verifying for the grace period, so holders can switch without downtime.

Options:
  --grace <duration>        how long the old secret keeps working, 0 to 30d (default 0: it stops now)

${COMMON_HELP}`;

const REVOKE_HELP = `Usage: sigil keys revoke <key-id> [options]

Revokes a key, and with it every token derived from it. Revocation is final.

Options:
  --reason <text>           why, recorded with the revocation
  --key-file <path>         revoke with the key itself instead of an admin key (for a key found
                            leaked: its holder needs no admin key); - reads standard input

${COMMON_HELP}`;

const issue: Subcommand = {
  summary: "issue a new API key (prints its secret once)",
  async run(args, ctx) {
    const options = {
      ...COMMON,
      name: { type: "string" },
      owner: { type: "string" },
      scope: { type: "string", multiple: true },
      meta: { type: "string", multiple: true },
      ttl: { type: "string" },
      "expire-time": { type: "string" },
      "request-id": { type: "string" },
      ...KEY_LIMIT_OPTIONS,
      ...TENANT_OPTION,
    } as const;
    const { values } = parseCommandArgs("keys issue", args, options, { min: 0, max: 0, names: "" });
    if (values.help) return help(ctx, ISSUE_HELP);
    if (values.name === undefined) throw new UsageError("keys issue: --name is required");
    if (values.owner === undefined) throw new UsageError("keys issue: --owner is required");
    if (values.ttl !== undefined && values["expire-time"] !== undefined) throw new UsageError("keys issue: give --ttl or --expire-time, not both");
    const limits = parseKeyLimits(values);
    const request = create(IssueKeyRequestSchema, {
      name: checkName(values.name),
      owner: checkOwner(values.owner),
      scopes: checkScopes(values.scope),
      metadata: checkMetadata(values.meta),
      requestId: checkFlag("--request-id", () => requireBoundedText(values["request-id"] ?? "", "request_id", LIMITS.requestIdChars)),
      rateLimit: limits.rateLimit,
      credits: limits.credits,
      allowedNetworks: limits.allowedNetworks ?? [],
      tenantId: resolveTenantFlag(values, ctx),
    });
    if (values.ttl !== undefined) {
      request.expiration = { case: "ttl", value: durationFromMs(parseDurationFlag("--ttl", values.ttl, 1000, LIMITS.maxKeyTtlMs)) };
    } else if (values["expire-time"] !== undefined) {
      request.expiration = { case: "expireTime", value: timestampFromDate(parseExpireTimeFlag("--expire-time", values["expire-time"], Date.now(), LIMITS.maxKeyTtlMs)) };
    }
    const { client, call } = await connect(values, ctx, { admin: true });
    const response = await client.issueKey(request, call);
    const output = new CliOutput(ctx, values.json === true);
    if (output.json) {
      output.message(IssueKeyResponseSchema, response);
    } else {
      output.fields([...(response.key ? keyFields(response.key) : []), ["secret", response.secret]]);
      output.note("The secret is shown only this once: store it now.");
    }
    return 0;
  },
};

const get: Subcommand = {
  summary: "show one key's public record",
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs("keys get", args, COMMON, { min: 1, max: 1, names: "one <key-id>" });
    if (values.help) return help(ctx, GET_HELP);
    const { client, call } = await connect(values, ctx, { admin: true });
    const response = await client.getKey({ keyId: checkKeyId(positionals[0]!) }, call);
    const output = new CliOutput(ctx, values.json === true);
    if (output.json) output.message(GetKeyResponseSchema, response);
    else if (response.key) output.fields(keyFields(response.key));
    return 0;
  },
};

const list: Subcommand = {
  summary: "list keys, filtered by owner or status",
  async run(args, ctx) {
    const options = {
      ...COMMON,
      owner: { type: "string" },
      status: { type: "string" },
      "page-size": { type: "string" },
      "page-token": { type: "string" },
      all: { type: "boolean" },
      ...TENANT_OPTION,
    } as const;
    const { values } = parseCommandArgs("keys list", args, options, { min: 0, max: 0, names: "" });
    if (values.help) return help(ctx, LIST_HELP);
    const status = values.status === undefined ? KeyStatus.UNSPECIFIED : parseChoice("--status", values.status, STATUS_CHOICES);
    const pageSize = values["page-size"] === undefined ? 0 : parseIntegerFlag("--page-size", values["page-size"], 1, 1000);
    const tenantId = resolveTenantFlag(values, ctx);
    const { client, call } = await connect(values, ctx, { admin: true });
    const output = new CliOutput(ctx, values.json === true);
    const rows: string[][] = [];
    const seenTokens = new Set<string>();
    let pageToken = values["page-token"] ?? "";
    for (;;) {
      const page = await client.listKeys({ owner: values.owner ?? "", status, pageSize, pageToken, tenantId }, call);
      if (output.json) output.message(ListKeysResponseSchema, page);
      else rows.push(...page.keys.map(keyTableRow));
      pageToken = page.nextPageToken;
      // A token seen before would loop forever; the server never sends one, but the CLI does not rely on that.
      if (!values.all || pageToken === "" || seenTokens.has(pageToken)) break;
      seenTokens.add(pageToken);
    }
    if (!output.json) {
      if (rows.length === 0) output.note("no keys");
      else output.table(KEY_TABLE_HEADERS, rows);
    }
    if (!values.all && pageToken !== "") output.note(`more keys: sigil keys list --page-token ${pageToken}`);
    return 0;
  },
};

const revoke: Subcommand = {
  summary: "revoke a key and every token derived from it",
  async run(args, ctx) {
    const options = { ...COMMON, reason: { type: "string" }, "key-file": { type: "string" } } as const;
    const { values, positionals } = parseCommandArgs("keys revoke", args, options, { min: 1, max: 1, names: "one <key-id>" });
    if (values.help) return help(ctx, REVOKE_HELP);
    const keyId = checkKeyId(positionals[0]!);
    const reason = checkFlag("--reason", () => requireBoundedText(values.reason ?? "", "reason", LIMITS.reasonChars));
    const ownKey = values["key-file"] === undefined ? undefined : await readSecretFile(values["key-file"], ctx.cwd, "--key-file");
    const { client, call } = await connect(values, ctx, { admin: true, bearer: ownKey });
    const response = await client.revokeKey({ keyId, reason }, call);
    const output = new CliOutput(ctx, values.json === true);
    if (output.json) output.message(RevokeKeyResponseSchema, response);
    else if (response.key) output.fields(keyFields(response.key));
    return 0;
  },
};

const rotate: Subcommand = {
  summary: "give a key a new secret; the old one keeps working for a grace period",
  async run(args, ctx) {
    const options = { ...COMMON, grace: { type: "string" } } as const;
    const { values, positionals } = parseCommandArgs("keys rotate", args, options, { min: 1, max: 1, names: "one <key-id>" });
    if (values.help) return help(ctx, ROTATE_HELP);
    const keyId = checkKeyId(positionals[0]!);
    const gracePeriod = values.grace === undefined ? undefined : durationFromMs(parseDurationFlag("--grace", values.grace, 0, LIMITS.maxRotationGraceMs));
    const { client, call } = await connect(values, ctx, { admin: true });
    const response = await client.rotateKey({ keyId, gracePeriod }, call);
    const output = new CliOutput(ctx, values.json === true);
    if (output.json) {
      output.message(RotateKeyResponseSchema, response);
    } else {
      output.fields([...(response.key ? keyFields(response.key) : []), ["secret", response.secret]]);
      output.note("The new secret is shown only this once: store it now.");
    }
    return 0;
  },
};

export const KEYS_SUBCOMMANDS: Record<string, Subcommand> = { issue, get, list, update, rotate, revoke, import: importKeys, usage };

/** `sigil keys <issue|get|list|update|rotate|revoke|import|usage>`: admin commands on API keys. */
export function keysCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  return runSubcommand("keys", "Manage API keys (needs an admin key).", KEYS_SUBCOMMANDS, args, ctx);
}
