import {
  ListSigningKeysResponseSchema,
  RotateSigningKeyResponseSchema,
  SigningKeyState,
  type SigningKey,
} from "../../clients/typescript/src/gen/sigil/v1/signing_key_pb.js";
import { HELP_OPTION, parseCommandArgs } from "./cli-args.js";
import { connect, CONNECTION_HELP, CONNECTION_OPTIONS } from "./cli-connection.js";
import type { CliContext } from "./cli-context.js";
import { CliOutput, formatEnum, formatTime, OUTPUT_HELP, OUTPUT_OPTIONS } from "./cli-output.js";
import { help, runSubcommand, type Subcommand } from "./cli-subcommands.js";

const COMMON = { ...HELP_OPTION, ...OUTPUT_OPTIONS, ...CONNECTION_OPTIONS } as const;
const COMMON_HELP = `${OUTPUT_HELP}\n\n${CONNECTION_HELP}\n`;
const HEADERS = ["KID", "STATE", "CREATED", "RETIRED", "VERIFIES UNTIL"] as const;

const LIST_HELP = `Usage: sigil signing-keys list [options]

Lists the keys that sign derived JWTs, newest first: the active one, retired ones (still published,
so the tokens they signed verify until they expire), expired and revoked ones.
With --json, each page is printed as one ListSigningKeysResponse object per line.

${COMMON_HELP}`;

const ROTATE_HELP = `Usage: sigil signing-keys rotate [--retire-now] [options]

Replaces the active JWT signing key now (Sigil also rotates it by itself after
SIGIL_SIGNING_KEY_ROTATION). Every Sigil process signs with the new key, and publishes it,
within the change-feed window (SIGIL_FEED_POLL_INTERVAL, about a second at most).

Without --retire-now the old key retires: it signs nothing new, and the tokens it signed keep
verifying until they expire.

Options:
  --retire-now              for a leaked signing key: revoke the old key, and every retired key
                            still published, at once. EVERY JWT THEY SIGNED STOPS VERIFYING
                            everywhere within the change-feed window: VerifyKey on every process
                            answers REVOKED, offline verifiers reject them as soon as
                            WatchRevocations delivers the change. Holders must derive new tokens.
                            API keys and macaroons are not affected.

${COMMON_HELP}`;

const list: Subcommand = {
  summary: "list the JWT signing keys and their states",
  async run(args, ctx) {
    const { values } = parseCommandArgs("signing-keys list", args, COMMON, { min: 0, max: 0, names: "" });
    if (values.help) return help(ctx, LIST_HELP);
    const { client, call } = await connect(values, ctx, { admin: true });
    const output = new CliOutput(ctx, values.json === true);
    const keys: SigningKey[] = [];
    const seenTokens = new Set<string>();
    let pageToken = "";
    do {
      seenTokens.add(pageToken);
      const page = await client.listSigningKeys({ pageToken }, call);
      if (output.json) output.message(ListSigningKeysResponseSchema, page);
      keys.push(...page.signingKeys);
      pageToken = page.nextPageToken;
    } while (pageToken !== "" && !seenTokens.has(pageToken));
    if (!output.json) output.table(HEADERS, keys.map(row));
    return 0;
  },
};

const rotate: Subcommand = {
  summary: "replace the active JWT signing key now (--retire-now for a leaked one)",
  async run(args, ctx) {
    const options = { ...COMMON, "retire-now": { type: "boolean" } } as const;
    const { values } = parseCommandArgs("signing-keys rotate", args, options, { min: 0, max: 0, names: "" });
    if (values.help) return help(ctx, ROTATE_HELP);
    const retireNow = values["retire-now"] === true;
    const { client, call } = await connect(values, ctx, { admin: true });
    const response = await client.rotateSigningKey({ retireNow }, call);
    const output = new CliOutput(ctx, values.json === true);
    if (output.json) output.message(RotateSigningKeyResponseSchema, response);
    else output.table(HEADERS, [response.signingKey, ...response.replacedSigningKeys].flatMap((k) => (k ? [row(k)] : [])));
    const kids = (state: SigningKeyState) =>
      response.replacedSigningKeys
        .filter((k) => k.state === state)
        .map((k) => k.kid)
        .join(", ");
    const revoked = kids(SigningKeyState.REVOKED);
    const retired = kids(SigningKeyState.RETIRED);
    const retiredUntil = response.replacedSigningKeys.find((k) => k.state === SigningKeyState.RETIRED)?.expireTime;
    output.note(`New signing key ${response.signingKey?.kid ?? "?"}: every Sigil process signs with it within the change-feed window.`);
    if (revoked) {
      output.note(
        `Revoked ${revoked}: every JWT signed by ${revoked.includes(",") ? "them" : "it"} stops verifying everywhere within the change-feed window ` +
          "(VerifyKey answers REVOKED; offline verifiers reject them once WatchRevocations delivers it). Holders must derive new tokens.",
      );
    }
    if (retired) output.note(`Retired ${retired}: the tokens it signed keep verifying until they expire (it is published until ${formatTime(retiredUntil)}).`);
    return 0;
  },
};

function row(k: SigningKey): string[] {
  return [k.kid, formatEnum(SigningKeyState, k.state), formatTime(k.createTime), formatTime(k.retireTime), formatTime(k.expireTime)];
}

/** `sigil signing-keys <list|rotate>`: admin commands on the JWT signing keys. */
export function signingKeysCommand(args: readonly string[], ctx: CliContext): Promise<number> {
  return runSubcommand("signing-keys", "Manage the keys that sign derived JWTs (needs an admin key).", { list, rotate }, args, ctx);
}
