import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { DeriveTokenResponseSchema, TokenFormat, TokenLifetimeLimit, type DeriveTokenResponse } from "../../clients/typescript/src/gen/sigil/v1/key_service_pb.js";
import { LIMITS, requireBoundedText } from "../service/request-validation.js";
import { HELP_OPTION, parseChoice, parseCommandArgs, parseDurationFlag, UsageError } from "./cli-args.js";
import { connect, readSecretFile, SERVER_HELP, SERVER_OPTIONS } from "./cli-connection.js";
import type { CliContext } from "./cli-context.js";
import { CliOutput, formatEnum, formatLifetime, formatList, formatTime, OUTPUT_HELP, OUTPUT_OPTIONS } from "./cli-output.js";
import { checkFlag } from "./flag-checks.js";
import { checkScopes } from "./key-field-flags.js";
import { help, runSubcommand, type Subcommand } from "./cli-subcommands.js";

const FORMAT_CHOICES = { jwt: TokenFormat.JWT, macaroon: TokenFormat.MACAROON } as const;

const DERIVE_HELP = `Usage: sigil tokens derive [options]

Derives a short-lived token with fewer scopes from an API key, authorized by that key (no admin key
is needed or sent). Prints the token.

Options:
  --key-file <path>         file holding the parent API key; - reads standard input
  --key <api key>           the parent API key itself (visible in ps; prefer SIGIL_KEY or a file)
                            Without either, the key is read from SIGIL_KEY.
  --format <format>         jwt (default) or macaroon
  --scope <scope>           a scope for the token (a subset of the key's); repeat or comma-separate.
                            None means all of the key's scopes.
  --ttl <duration>          lifetime, e.g. 5m (default: the server's default, 15m). The server caps
                            it at its maximum (SIGIL_TOKEN_MAX_TTL, 1h by default) and at the parent
                            key's expiry; a note on stderr says when it did. A ttl over the key's
                            tenant's max_derived_token_lifetime is refused (its default is cut to it).
  --audience <audience>     the service the token is meant for

${OUTPUT_HELP}

${SERVER_HELP}
`;

const derive: Subcommand = {
  summary: "derive a short-lived JWT or macaroon from an API key",
  async run(args, ctx) {
    const options = {
      ...HELP_OPTION,
      ...OUTPUT_OPTIONS,
      ...SERVER_OPTIONS,
      key: { type: "string" },
      "key-file": { type: "string" },
      format: { type: "string" },
      scope: { type: "string", multiple: true },
      ttl: { type: "string" },
      audience: { type: "string" },
    } as const;
    const { values } = parseCommandArgs("tokens derive", args, options, { min: 0, max: 0, names: "" });
    if (values.help) return help(ctx, DERIVE_HELP);
    if (values.key !== undefined && values["key-file"] !== undefined) throw new UsageError("tokens derive: give --key or --key-file, not both");
    const format = values.format === undefined ? TokenFormat.JWT : parseChoice("--format", values.format, FORMAT_CHOICES);
    const ttlMs = values.ttl === undefined ? undefined : parseDurationFlag("--ttl", values.ttl, 1000, LIMITS.maxKeyTtlMs);
    const scopes = checkScopes(values.scope);
    const audience = checkFlag("--audience", () => requireBoundedText(values.audience ?? "", "audience", LIMITS.audienceChars));
    const credential = await parentKey(values, ctx);
    const { client, call } = await connect(values, ctx, { admin: false });
    const response = await client.deriveToken({ credential, format, scopes, ttl: ttlMs === undefined ? undefined : durationFromMs(ttlMs), audience }, call);
    const output = new CliOutput(ctx, values.json === true);
    const cap = lifetimeCapNote(response, values.ttl);
    if (cap) output.note(cap);
    if (output.json) {
      output.message(DeriveTokenResponseSchema, response);
    } else {
      output.fields([
        ["key_id", response.keyId],
        ["format", formatEnum(TokenFormat, response.format)],
        ["token_id", response.tokenId],
        ["scopes", formatList(response.scopes)],
        ["expires", formatTime(response.expireTime)],
        ["token", response.token],
      ]);
    }
    return 0;
  },
};

async function parentKey(values: { key?: string | undefined; "key-file"?: string | undefined }, ctx: CliContext): Promise<string> {
  if (values.key !== undefined) return values.key.trim();
  if (values["key-file"] !== undefined) return readSecretFile(values["key-file"], ctx.cwd, "--key-file");
  const fromEnv = ctx.env["SIGIL_KEY"];
  if (fromEnv) return fromEnv.trim();
  throw new UsageError("tokens derive: give the parent API key with --key-file <path>, --key-file - (standard input) or SIGIL_KEY");
}

/** Says that (and why) the server granted a shorter lifetime than asked for; undefined when it did not. */
function lifetimeCapNote(response: DeriveTokenResponse, asked: string | undefined): string | undefined {
  if (response.lifetimeLimit === TokenLifetimeLimit.UNSPECIFIED || !response.ttl) return undefined;
  const granted = `note: the token lives ${formatLifetime(durationMs(response.ttl))}, not ${asked === undefined ? "the default lifetime" : `the ${asked} asked for`}:`;
  if (response.lifetimeLimit === TokenLifetimeLimit.MAX_TTL) return `${granted} capped at the server's longest token lifetime (SIGIL_TOKEN_MAX_TTL)`;
  if (response.lifetimeLimit === TokenLifetimeLimit.TENANT_POLICY) return `${granted} capped by the tenant's policy max_derived_token_lifetime`;
  return `${granted} capped at the parent key's expiry (${formatTime(response.expireTime)}); a token never outlives its key`;
}

/** `sigil tokens derive`: mints derived tokens. */
export function tokensCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  return runSubcommand("tokens", "Derive short-lived tokens from API keys.", { derive }, args, ctx);
}
