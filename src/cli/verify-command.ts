import { CredentialKind, VerifyKeyResponseSchema, VerifyReason } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { LIMITS, requireBoundedText } from "../service/request-validation.js";
import { requireClientIp, USAGE_LIMITS } from "../service/usage-validation.js";
import { HELP_OPTION, parseCommandArgs, parseIntegerFlag } from "./cli-args.js";
import { checkFlag } from "./flag-checks.js";
import { checkScopes } from "./key-field-flags.js";
import { connect, readSecretFile, SERVER_HELP, SERVER_OPTIONS } from "./cli-connection.js";
import type { CliContext } from "./cli-context.js";
import { resolveTenantFlag, TENANT_OPTION } from "./tenant-flag.js";
import { CliOutput, formatCreditsStatus, formatEnum, formatList, formatMetadata, formatRateLimitStatus, formatTime, OUTPUT_HELP, OUTPUT_OPTIONS } from "./cli-output.js";
import { help } from "./cli-subcommands.js";
import { DEFAULT_TENANT } from "../tenants/tenant-id.js";

/** Exit code when the server answered that the credential is not valid (not an error: exit 1 stays for errors). */
export const EXIT_NOT_VALID = 3;

const VERIFY_HELP = `Usage: sigil verify <credential | -> [options]

Verifies an API key, a derived JWT or a macaroon with the server, as a resource service would.
Pass - to read the credential from standard input (keeps it out of ps and shell history).
No admin key is needed or sent.

Options:
  --scope <scope>           a scope the credential must hold; repeat or comma-separate
  --audience <audience>     the audience this check is for (tokens with an audience must match)
  --client-ip <ip>          the client address to check against the key's allowed networks
  --cost <n>                credits this verification uses from a metered key (default 1)
  --tenant <tenant-id>      only keys of this tenant: another tenant's credential is NOT_FOUND
                            (SIGIL_TENANT; default: any tenant)

Exit codes: 0 valid, ${EXIT_NOT_VALID} not valid (the reason is printed), 1 error, 2 usage error.

${OUTPUT_HELP}

${SERVER_HELP}
`;

/** `sigil verify`: VerifyKey from the command line. Never prints the credential itself. */
export async function verifyCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  const options = {
    ...HELP_OPTION,
    ...OUTPUT_OPTIONS,
    ...SERVER_OPTIONS,
    scope: { type: "string", multiple: true },
    audience: { type: "string" },
    "client-ip": { type: "string" },
    cost: { type: "string" },
    ...TENANT_OPTION,
  } as const;
  const { values, positionals } = parseCommandArgs("verify", args, options, { min: 1, max: 1, names: "one <credential> (or - for standard input)" });
  if (values.help) return help(ctx, VERIFY_HELP);
  const cost = values.cost === undefined ? 0 : parseIntegerFlag("--cost", values.cost, 1, USAGE_LIMITS.maxCost);
  const credential = positionals[0] === "-" ? await readSecretFile("-", ctx.cwd, "standard input") : positionals[0]!;
  const tenantId = resolveTenantFlag(values, ctx);
  const { client, call } = await connect(values, ctx, { admin: false });
  const requiredScopes = checkScopes(values.scope);
  const audience = checkFlag("--audience", () => requireBoundedText(values.audience ?? "", "audience", LIMITS.audienceChars));
  const clientIp = values["client-ip"] ?? "";
  checkFlag("--client-ip", () => requireClientIp(clientIp));
  const response = await client.verifyKey({ credential, requiredScopes, audience, clientIp, cost, tenantId }, call);
  const output = new CliOutput(ctx, values.json === true);
  if (output.json) {
    output.message(VerifyKeyResponseSchema, response);
  } else {
    output.fields([
      ["valid", String(response.valid)],
      ["reason", formatEnum(VerifyReason, response.reason)],
      ["kind", formatEnum(CredentialKind, response.kind)],
      ["key_id", response.keyId || "-"],
      ...(response.valid
        ? ([
            ["owner", response.owner],
            // Only another tenant's keys say so: single-tenant output stays as it was.
            ...(response.tenantId !== DEFAULT_TENANT ? ([["tenant", response.tenantId]] as Array<[string, string]>) : []),
            ["scopes", formatList(response.scopes)],
            ["metadata", formatMetadata(response.metadata)],
            ["expires", formatTime(response.expireTime)],
          ] as Array<[string, string]>)
        : []),
      ...(response.tokenId ? ([["token_id", response.tokenId]] as Array<[string, string]>) : []),
      ...(response.rateLimit ? ([["rate_limit", formatRateLimitStatus(response.rateLimit)]] as Array<[string, string]>) : []),
      ...(response.credits ? ([["credits", formatCreditsStatus(response.credits)]] as Array<[string, string]>) : []),
    ]);
  }
  return response.valid ? 0 : EXIT_NOT_VALID;
}
