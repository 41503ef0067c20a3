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
import { HELP_OPTION, parseCommandArgs, UsageError } from "./cli-args.js";
import { connect, CONNECTION_HELP, CONNECTION_OPTIONS } from "./cli-connection.js";
import type { CliContext } from "./cli-context.js";
import { CliOutput, formatTime, OUTPUT_HELP, OUTPUT_OPTIONS } from "./cli-output.js";
import { help, runSubcommand, type Subcommand } from "./cli-subcommands.js";
import { checkTenantId } from "./tenant-flag.js";

const COMMON = { ...HELP_OPTION, ...OUTPUT_OPTIONS, ...CONNECTION_OPTIONS } as const;
const COMMON_HELP = `${OUTPUT_HELP}\n\n${CONNECTION_HELP}\n`;
const HEADERS = ["TENANT", "DISPLAY NAME", "CREATED", "UPDATED"] as const;

const CREATE_HELP = `Usage: sigil tenants create <tenant-id> [--display-name <name>] [options]

Creates a tenant (needs sigil:tenants.admin). The id is 1 to 63 characters of lowercase letters,
digits and '-'; it is fixed, and never reused once the tenant is deleted.

${COMMON_HELP}`;
const GET_HELP = `Usage: sigil tenants get <tenant-id> [options]\n\nShows one tenant (needs any role over it).\n\n${COMMON_HELP}`;
const LIST_HELP = `Usage: sigil tenants list [options]\n\nLists every tenant by id (needs sigil:tenants.admin).\n\n${COMMON_HELP}`;
const UPDATE_HELP = `Usage: sigil tenants update <tenant-id> --display-name <name> [options]\n\nChanges a tenant's display name (needs sigil:tenants.admin).\n\n${COMMON_HELP}`;
const DELETE_HELP = `Usage: sigil tenants delete <tenant-id> [--force] [options]

Deletes a tenant (needs sigil:tenants.admin). A tenant with active keys is kept unless --force,
which revokes every key of it in the same transaction: they stop verifying everywhere within the
change-feed window. The tenant default cannot be deleted.

${COMMON_HELP}`;

const create_: Subcommand = {
  summary: "create a tenant",
  async run(args, ctx) {
    const options = { ...COMMON, "display-name": { type: "string" } } as const;
    const { values, positionals } = parseCommandArgs("tenants create", args, options, { min: 1, max: 1, names: "one <tenant-id>" });
    if (values.help) return help(ctx, CREATE_HELP);
    const tenantId = checkTenantId(positionals[0]!, "<tenant-id>");
    const { client, call } = await connect(values, ctx, { admin: true });
    const response = await client.createTenant({ tenantId, displayName: values["display-name"] ?? "" }, call);
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
  summary: "change a tenant's display name",
  async run(args, ctx) {
    const options = { ...COMMON, "display-name": { type: "string" } } as const;
    const { values, positionals } = parseCommandArgs("tenants update", args, options, { min: 1, max: 1, names: "one <tenant-id>" });
    if (values.help) return help(ctx, UPDATE_HELP);
    const tenantId = checkTenantId(positionals[0]!, "<tenant-id>");
    if (values["display-name"] === undefined) throw new UsageError("tenants update: --display-name is required");
    const { client, call } = await connect(values, ctx, { admin: true });
    const response = await client.updateTenant(
      { tenant: { tenantId, displayName: values["display-name"] }, updateMask: create(FieldMaskSchema, { paths: ["display_name"] }) },
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
  else if (tenant) new CliOutput(ctx, false).fields([["tenant_id", tenant.tenantId], ["display_name", tenant.displayName || "-"], ["created", formatTime(tenant.createTime)], ["updated", formatTime(tenant.updateTime)]]);
  return 0;
}

function row(t: Tenant): string[] {
  return [t.tenantId, t.displayName || "-", formatTime(t.createTime), formatTime(t.updateTime)];
}

/** `sigil tenants <create|get|list|update|delete>`: admin commands on tenants. */
export function tenantsCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  return runSubcommand("tenants", "Manage tenants (needs a key with sigil:tenants.admin of the tenant default).", { create: create_, get, list, update, delete: delete_ }, args, ctx);
}
