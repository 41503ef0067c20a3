import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { KeySchema } from "../../clients/typescript/src/gen/sigil/v1/key_pb.js";
import { UpdateKeyResponseSchema } from "../../clients/typescript/src/gen/sigil/v1/key_lifecycle_pb.js";
import { LIMITS } from "../service/request-validation.js";
import { HELP_OPTION, parseCommandArgs, parseDurationFlag, parseExpireTimeFlag, parseList, UsageError } from "./cli-args.js";
import { connect, CONNECTION_HELP, CONNECTION_OPTIONS } from "./cli-connection.js";
import { CliOutput, keyFields, OUTPUT_HELP, OUTPUT_OPTIONS } from "./cli-output.js";
import { help, type Subcommand } from "./cli-subcommands.js";
import { checkKeyId, checkMetadata, checkName, checkScopes } from "./key-field-flags.js";
import { KEY_LIMIT_HELP, KEY_LIMIT_OPTIONS, parseKeyLimits } from "./key-limit-flags.js";

/** Fields `--clear` can reset, by their update-mask path. */
const CLEARABLE = ["scopes", "metadata", "expire_time", "rate_limit", "credits", "allowed_networks"] as const;

const UPDATE_HELP = `Usage: sigil keys update <key-id> [options]

Changes only the fields given (UpdateKey with an update mask); everything else stays. A revoked key
cannot be changed. The owner and the secret never change (see sigil keys rotate for the secret).

Options:
  --name <name>             new name
  --scope <scope>           new scopes, replacing the old ones; repeat or comma-separate
  --meta <key=value>        new metadata, replacing the old labels; repeat for several
  --expire-time <time>      new expiry, e.g. 2030-01-31T00:00:00Z
  --ttl <duration>          new expiry this long from now (by this machine's clock), e.g. 30d
  --disable                 stop the key verifying until --enable (unlike revocation, reversible)
  --enable                  let a disabled key verify again
  --clear <field>           reset a field to none: ${CLEARABLE.join(", ")}; repeat for several

${KEY_LIMIT_HELP}

${OUTPUT_HELP}

${CONNECTION_HELP}
`;

export const update: Subcommand = {
  summary: "change a key's name, scopes, metadata, expiry, limits or enabled state",
  async run(args, ctx) {
    const options = {
      ...HELP_OPTION,
      ...OUTPUT_OPTIONS,
      ...CONNECTION_OPTIONS,
      ...KEY_LIMIT_OPTIONS,
      name: { type: "string" },
      scope: { type: "string", multiple: true },
      meta: { type: "string", multiple: true },
      "expire-time": { type: "string" },
      ttl: { type: "string" },
      enable: { type: "boolean" },
      disable: { type: "boolean" },
      clear: { type: "string", multiple: true },
    } as const;
    const { values, positionals } = parseCommandArgs("keys update", args, options, { min: 1, max: 1, names: "one <key-id>" });
    if (values.help) return help(ctx, UPDATE_HELP);

    const key = create(KeySchema, { keyId: checkKeyId(positionals[0]!) });
    const paths = new Set<string>();
    const set = (path: string) => {
      if (paths.has(path)) throw new UsageError(`keys update: ${path} is given twice (a value and --clear, or two expiry flags)`);
      paths.add(path);
    };
    if (values.name !== undefined) {
      set("name");
      key.name = checkName(values.name);
    }
    if (values.scope !== undefined) {
      set("scopes");
      key.scopes = checkScopes(values.scope);
    }
    if (values.meta !== undefined) {
      set("metadata");
      key.metadata = checkMetadata(values.meta);
    }
    if (values["expire-time"] !== undefined) {
      set("expire_time");
      key.expireTime = timestampFromDate(parseExpireTimeFlag("--expire-time", values["expire-time"], Date.now(), LIMITS.maxKeyTtlMs));
    }
    if (values.ttl !== undefined) {
      set("expire_time");
      key.expireTime = timestampFromDate(new Date(Date.now() + parseDurationFlag("--ttl", values.ttl, 1000, LIMITS.maxKeyTtlMs)));
    }
    if (values.enable && values.disable) throw new UsageError("keys update: give --enable or --disable, not both");
    if (values.enable || values.disable) {
      set("enabled");
      key.enabled = values.enable === true;
    }
    const limits = parseKeyLimits(values);
    if (limits.rateLimit) {
      set("rate_limit");
      key.rateLimit = limits.rateLimit;
    }
    if (limits.credits) {
      set("credits");
      key.credits = limits.credits;
    }
    if (limits.allowedNetworks) {
      set("allowed_networks");
      key.allowedNetworks = limits.allowedNetworks;
    }
    for (const field of parseList(values.clear)) {
      // "networks" is what the key's record prints; accept it too.
      const path = field === "networks" ? "allowed_networks" : field.replaceAll("-", "_");
      if (!(CLEARABLE as readonly string[]).includes(path)) throw new UsageError(`--clear must name one of ${CLEARABLE.join(", ")}`);
      set(path); // a listed field left unset is cleared
    }
    if (paths.size === 0) throw new UsageError("keys update: nothing to change (see sigil keys update --help)");

    const { client, call } = await connect(values, ctx, { admin: true });
    const response = await client.updateKey({ key, updateMask: { paths: [...paths] } }, call);
    const output = new CliOutput(ctx, values.json === true);
    if (output.json) output.message(UpdateKeyResponseSchema, response);
    else if (response.key) output.fields(keyFields(response.key));
    return 0;
  },
};
