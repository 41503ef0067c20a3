import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import {
  CreateTenantResponseSchema,
  DeleteTenantResponseSchema,
  GetTenantResponseSchema,
  ListTenantsResponseSchema,
  UpdateTenantResponseSchema,
  type Tenant,
} from "../../clients/typescript/src/gen/sigil/v1/tenant_pb.js";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { TenantPolicySchema, type TenantPolicy } from "../../clients/typescript/src/gen/sigil/v1/tenant_pb.js";
import { HELP_OPTION, parseCommandArgs, parseDurationFlag, parseIntegerFlag, UsageError } from "./cli-args.js";
import { checkScopes } from "./key-field-flags.js";
import { parseUsageFlags, type UsageFlagNames } from "./key-limit-flags.js";
import { connect, CONNECTION_HELP, CONNECTION_OPTIONS } from "./cli-connection.js";
import type { CliContext } from "./cli-context.js";
import { CliOutput, formatDuration, formatTime, OUTPUT_HELP, OUTPUT_OPTIONS } from "./cli-output.js";
import { help, runSubcommand, type Subcommand } from "./cli-subcommands.js";
import { checkTenantId } from "./tenant-flag.js";

const COMMON = { ...HELP_OPTION, ...OUTPUT_OPTIONS, ...CONNECTION_OPTIONS } as const;
const COMMON_HELP = `${OUTPUT_HELP}\n\n${CONNECTION_HELP}\n`;
const HEADERS = ["TENANT", "DISPLAY NAME", "CREATED", "UPDATED", "JWT ISSUER", "JWT AUDIENCE"] as const;

/** The policy flags of create and update; update replaces the whole policy when one is given. */
const POLICY_OPTIONS = {
  "max-key-lifetime": { type: "string" },
  "require-expiry": { type: "boolean" },
  "allowed-scope": { type: "string", multiple: true },
  "max-active-keys": { type: "string" },
  "max-derived-token-lifetime": { type: "string" },
  network: { type: "string", multiple: true },
  "default-rate-limit": { type: "string" },
  "default-rate-burst": { type: "string" },
  "default-credits": { type: "string" },
  "default-credits-refill": { type: "string" },
} as const;

/** The tenant-edge policy flags: named like a key's own usage controls (keys issue), parsed alike. */
const EDGE_FLAGS: UsageFlagNames = {
  network: "--network",
  rateLimit: "--default-rate-limit",
  rateBurst: "--default-rate-burst",
  credits: "--default-credits",
  creditsRefill: "--default-credits-refill",
};

/** The derived-JWT flags of create and update (an empty value goes back to the default). */
const JWT_OPTIONS = {
  "jwt-issuer": { type: "string" },
  "jwt-audience": { type: "string" },
} as const;
const JWT_HELP = `Derived JWTs of the tenant's keys:
  --jwt-issuer <iss>        their iss (default: the server's --issuer for default,
                            <server issuer>/tenants/<tenant-id> for the others; "" restores it).
                            Tokens derived under the old issuer stop verifying on Sigil.
  --jwt-audience <aud>      their aud when DeriveToken names none ("" for none)`;
const POLICY_HELP = `Policy (enforced on IssueKey, ImportKey and UpdateKey; a breach is FAILED_PRECONDITION naming it):
  --max-key-lifetime <d>    keys live at most this long, e.g. 90d
  --require-expiry          every key must expire
  --allowed-scope <pattern> scopes must match one of these (repeat; * matches anything, e.g. orders:*)
  --max-active-keys <n>     most active keys at once
  --max-derived-token-lifetime <d>
                            tokens derived from its keys live at most this long (DeriveToken);
                            a longer ttl is refused, the server's default ttl is cut to it
  --network <cidr>          the tenant's network boundary: every verification of its keys must come
                            from one of these networks (and the key's own); repeat or comma-separate
  --default-rate-limit <n>/<window>
                            rate limit of a new key that names none, e.g. 100/1s
  --default-rate-burst <n>  its burst (default: n of --default-rate-limit)
  --default-credits <n>     usage credits of a new key that names none
  --default-credits-refill <n>/<interval>
                            their refill, e.g. 1000/1d`;

interface PolicyValues {
  readonly "max-key-lifetime"?: string | undefined;
  readonly "require-expiry"?: boolean | undefined;
  readonly "allowed-scope"?: string[] | undefined;
  readonly "max-active-keys"?: string | undefined;
  readonly "max-derived-token-lifetime"?: string | undefined;
  readonly network?: string[] | undefined;
  readonly "default-rate-limit"?: string | undefined;
  readonly "default-rate-burst"?: string | undefined;
  readonly "default-credits"?: string | undefined;
  readonly "default-credits-refill"?: string | undefined;
}

/** The policy the flags give, or undefined when none is given. */
function policyOf(values: PolicyValues): TenantPolicy | undefined {
  if (Object.keys(POLICY_OPTIONS).every((flag) => values[flag as keyof PolicyValues] === undefined)) return undefined;
  const edge = parseUsageFlags(
    { network: values.network, rateLimit: values["default-rate-limit"], rateBurst: values["default-rate-burst"], credits: values["default-credits"], creditsRefill: values["default-credits-refill"] },
    EDGE_FLAGS,
  );
  return create(TenantPolicySchema, {
    maxKeyLifetime: values["max-key-lifetime"] === undefined ? undefined : durationFromMs(parseDurationFlag("--max-key-lifetime", values["max-key-lifetime"], 1000, 10 * 365 * 86_400_000)),
    requireExpiry: values["require-expiry"] === true,
    allowedScopePatterns: checkScopes(values["allowed-scope"]),
    maxActiveKeys: values["max-active-keys"] === undefined ? 0 : parseIntegerFlag("--max-active-keys", values["max-active-keys"], 1, 1_000_000),
    // The server bounds it by its own SIGIL_TOKEN_MAX_TTL (INVALID_ARGUMENT over it); the CLI by the setting's own ceiling.
    maxDerivedTokenLifetime:
      values["max-derived-token-lifetime"] === undefined ? undefined : durationFromMs(parseDurationFlag("--max-derived-token-lifetime", values["max-derived-token-lifetime"], 1000, 86_400_000)),
    allowedNetworks: edge.allowedNetworks ?? [],
    defaultRateLimit: edge.rateLimit,
    defaultCredits: edge.credits,
  });
}

const CREATE_HELP = `Usage: sigil tenants create <tenant-id> [--display-name <name>] [options]

Creates a tenant (needs sigil:tenants.admin). The id is 1 to 63 characters of lowercase letters,
digits and '-'; it is fixed, and never reused once the tenant is deleted.

${POLICY_HELP}

${JWT_HELP}

${COMMON_HELP}`;
const GET_HELP = `Usage: sigil tenants get <tenant-id> [options]\n\nShows one tenant (needs any role over it).\n\n${COMMON_HELP}`;
const LIST_HELP = `Usage: sigil tenants list [options]\n\nLists every tenant by id (needs sigil:tenants.admin).\n\n${COMMON_HELP}`;
const UPDATE_HELP = `Usage: sigil tenants update <tenant-id> [--display-name <name>] [policy flags | --clear-policy] [jwt flags] [options]

Changes a tenant's display name or derived-JWT settings, or replaces its policy with the one the
flags give (needs sigil:tenants.admin): a policy rule whose flag is not given is cleared, so give
every rule to keep; --clear-policy removes them all.

${POLICY_HELP}

${JWT_HELP}

${COMMON_HELP}`;
const DELETE_HELP = `Usage: sigil tenants delete <tenant-id> [--force] [options]

Deletes a tenant (needs sigil:tenants.admin). A tenant with active keys is kept unless --force,
which revokes every key of it in the same transaction: they stop verifying everywhere within the
change-feed window. The tenant default cannot be deleted.

${COMMON_HELP}`;

const create_: Subcommand = {
  summary: "create a tenant",
  async run(args, ctx) {
    const options = { ...COMMON, ...POLICY_OPTIONS, ...JWT_OPTIONS, "display-name": { type: "string" } } as const;
    const { values, positionals } = parseCommandArgs("tenants create", args, options, { min: 1, max: 1, names: "one <tenant-id>" });
    if (values.help) return help(ctx, CREATE_HELP);
    const tenantId = checkTenantId(positionals[0]!, "<tenant-id>");
    const { client, call } = await connect(values, ctx, { admin: true });
    const response = await client.createTenant(
      { tenantId, displayName: values["display-name"] ?? "", policy: policyOf(values), jwtIssuer: values["jwt-issuer"] ?? "", jwtAudience: values["jwt-audience"] ?? "" },
      call,
    );
    return print(ctx, values.json === true, () => new CliOutput(ctx, true).message(CreateTenantResponseSchema, response), response.tenant);
  },
};

const get: Subcommand = {
  summary: "show one tenant",
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs("tenants get", args, COMMON, { min: 1, max: 1, names: "one <tenant-id>" });
    if (values.help) return help(ctx, GET_HELP);
    const tenantId = checkTenantId(positionals[0]!, "<tenant-id>");
    const { client, call } = await connect(values, ctx, { admin: true });
    const response = await client.getTenant({ tenantId }, call);
    return print(ctx, values.json === true, () => new CliOutput(ctx, true).message(GetTenantResponseSchema, response), response.tenant);
  },
};

const list: Subcommand = {
  summary: "list every tenant",
  async run(args, ctx) {
    const { values } = parseCommandArgs("tenants list", args, COMMON, { min: 0, max: 0, names: "" });
    if (values.help) return help(ctx, LIST_HELP);
    const { client, call } = await connect(values, ctx, { admin: true });
    const output = new CliOutput(ctx, values.json === true);
    const tenants: Tenant[] = [];
    const seen = new Set<string>();
    let pageToken = "";
    do {
      seen.add(pageToken);
      const page = await client.listTenants({ pageToken, pageSize: 1000 }, call);
      if (output.json) output.message(ListTenantsResponseSchema, page);
      tenants.push(...page.tenants);
      pageToken = page.nextPageToken;
    } while (pageToken !== "" && !seen.has(pageToken));
    if (!output.json) output.table(HEADERS, tenants.map(row));
    return 0;
  },
};

const update: Subcommand = {
  summary: "change a tenant's display name, policy or derived-JWT settings",
  async run(args, ctx) {
    const options = { ...COMMON, ...POLICY_OPTIONS, ...JWT_OPTIONS, "display-name": { type: "string" }, "clear-policy": { type: "boolean" } } as const;
    const { values, positionals } = parseCommandArgs("tenants update", args, options, { min: 1, max: 1, names: "one <tenant-id>" });
    if (values.help) return help(ctx, UPDATE_HELP);
    const tenantId = checkTenantId(positionals[0]!, "<tenant-id>");
    const policy = policyOf(values);
    const clearPolicy = values["clear-policy"] === true;
    if (clearPolicy && policy !== undefined) throw new UsageError("tenants update: give policy flags or --clear-policy, not both");
    const paths = [
      ...(values["display-name"] === undefined ? [] : ["display_name"]),
      // The mask names the policy; an unset one replaces it with none.
      ...(policy === undefined && !clearPolicy ? [] : ["policy"]),
      ...(values["jwt-issuer"] === undefined ? [] : ["jwt_issuer"]),
      ...(values["jwt-audience"] === undefined ? [] : ["jwt_audience"]),
    ];
    if (paths.length === 0) throw new UsageError("tenants update: give --display-name, policy flags, --clear-policy, --jwt-issuer or --jwt-audience");
    const { client, call } = await connect(values, ctx, { admin: true });
    const response = await client.updateTenant(
      { tenant: { tenantId, displayName: values["display-name"] ?? "", policy, jwtIssuer: values["jwt-issuer"] ?? "", jwtAudience: values["jwt-audience"] ?? "" }, updateMask: create(FieldMaskSchema, { paths }) },
      call,
    );
    return print(ctx, values.json === true, () => new CliOutput(ctx, true).message(UpdateTenantResponseSchema, response), response.tenant);
  },
};

const delete_: Subcommand = {
  summary: "delete a tenant (--force revokes its keys)",
  async run(args, ctx) {
    const options = { ...COMMON, force: { type: "boolean" } } as const;
    const { values, positionals } = parseCommandArgs("tenants delete", args, options, { min: 1, max: 1, names: "one <tenant-id>" });
    if (values.help) return help(ctx, DELETE_HELP);
    const tenantId = checkTenantId(positionals[0]!, "<tenant-id>");
    const { client, call } = await connect(values, ctx, { admin: true });
    const response = await client.deleteTenant({ tenantId, force: values.force === true }, call);
    const output = new CliOutput(ctx, values.json === true);
    if (output.json) output.message(DeleteTenantResponseSchema, response);
    else output.note(`Deleted tenant ${tenantId}; revoked ${response.revokedKeyCount} key(s).`);
    return 0;
  },
};

function print(ctx: CliContext, json: boolean, asJson: () => void, tenant: Tenant | undefined): number {
  if (json) asJson();
  else if (tenant) new CliOutput(ctx, false).fields([["tenant_id", tenant.tenantId], ["display_name", tenant.displayName || "-"], ["created", formatTime(tenant.createTime)], ["updated", formatTime(tenant.updateTime)], ["policy", formatPolicy(tenant.policy)], ["jwt_issuer", tenant.jwtIssuer || "- (default)"], ["jwt_audience", tenant.jwtAudience || "-"]]);
  return 0;
}

function formatPolicy(p: TenantPolicy | undefined): string {
  if (!p) return "-";
  const parts = [
    ...(p.maxKeyLifetime ? [`max_key_lifetime=${p.maxKeyLifetime.seconds}s`] : []),
    ...(p.requireExpiry ? ["require_expiry"] : []),
    ...(p.allowedScopePatterns.length > 0 ? [`allowed_scopes=${p.allowedScopePatterns.join(",")}`] : []),
    ...(p.maxActiveKeys > 0 ? [`max_active_keys=${p.maxActiveKeys}`] : []),
    ...(p.maxDerivedTokenLifetime ? [`max_derived_token_lifetime=${p.maxDerivedTokenLifetime.seconds}s`] : []),
    ...(p.allowedNetworks.length > 0 ? [`allowed_networks=${p.allowedNetworks.join(",")}`] : []),
    ...(p.defaultRateLimit ? [`default_rate_limit=${p.defaultRateLimit.requests}/${formatDuration(p.defaultRateLimit.window)}`] : []),
    // The server stores an unset burst as the count: shown only when it differs.
    ...(p.defaultRateLimit && p.defaultRateLimit.burst !== p.defaultRateLimit.requests ? [`default_rate_burst=${p.defaultRateLimit.burst}`] : []),
    ...(p.defaultCredits ? [`default_credits=${p.defaultCredits.remaining}`] : []),
    ...(p.defaultCredits?.refillInterval ? [`default_credits_refill=${p.defaultCredits.refillAmount}/${formatDuration(p.defaultCredits.refillInterval)}`] : []),
  ];
  return parts.length === 0 ? "-" : parts.join(" ");
}

function row(t: Tenant): string[] {
  return [t.tenantId, t.displayName || "-", formatTime(t.createTime), formatTime(t.updateTime), t.jwtIssuer || "-", t.jwtAudience || "-"];
}

/** `sigil tenants <create|get|list|update|delete>`: admin commands on tenants. */
export function tenantsCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  return runSubcommand("tenants", "Manage tenants (needs a key with sigil:tenants.admin of the tenant default).", { create: create_, get, list, update, delete: delete_ }, args, ctx);
}
