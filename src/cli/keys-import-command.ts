import path from "node:path";
import { create, fromJson, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { ImportKeyRequestSchema, ImportKeyResultSchema, type ImportKeyRequest, type ImportKeyResult } from "../../clients/typescript/src/gen/sigil/v1/key_import_pb.js";
import { hasSigilKeyShape, IMPORTED_KEY_MAX_CHARS, IMPORTED_KEY_MIN_CHARS, isPlausibleImportedKey } from "../keys/imported-key-hasher.js";
import { LIMITS } from "../service/request-validation.js";
import { resolveTenantFlag, TENANT_HELP, TENANT_OPTION } from "./tenant-flag.js";
import { CliError, HELP_OPTION, parseChoice, parseCommandArgs, parseExpireTimeFlag, parseIntegerFlag, UsageError } from "./cli-args.js";
import { connect, CONNECTION_HELP, CONNECTION_OPTIONS } from "./cli-connection.js";
import { codeName } from "./cli-errors.js";
import { CliOutput, printable, OUTPUT_OPTIONS } from "./cli-output.js";
import { help, type Subcommand } from "./cli-subcommands.js";
import { checkMetadata, checkName, checkOwner, checkScopes } from "./key-field-flags.js";
import { KEY_LIMIT_HELP, KEY_LIMIT_OPTIONS, parseKeyLimits, type KeyLimits } from "./key-limit-flags.js";
import { readLines, type Line } from "./line-reader.js";

/** BatchImportKeys takes at most this many keys per call. */
const MAX_BATCH = 1000;
/** Longer lines are not keys (the server takes keys up to 512 characters, plus JSON fields). */
const MAX_LINE_BYTES = 64 * 1024;
/** Malformed lines listed before giving up on a file. */
const MAX_LISTED_PROBLEMS = 5;

type FileFormat = "lines" | "jsonl";

const IMPORT_HELP = `Usage: sigil keys import <file> [options]

Brings existing keys of another system under Sigil: after the import they verify like Sigil keys,
with the same strings their holders already have. Keys are sent in batches (BatchImportKeys),
progress goes to stderr (imported 3000/10000), and a bad or duplicate key fails alone: it is
reported with its line number, never with the key, and the others are imported.
The file is checked completely before anything is sent: a malformed line imports nothing.

File formats (--format; default jsonl for *.jsonl and *.ndjson files, lines otherwise):
  lines   one key string per line (or, with --sha256, the hex SHA-256 of each key). Blank lines
          and lines starting with # are skipped. Every key gets the flags' owner, name, scopes...
  jsonl   one ImportKeyRequest in protobuf JSON per line, for example
            {"rawKey":"sk_live_4f9a...","owner":"svc:billing","name":"billing","scopes":["read"]}
            {"rawKeySha256":"9f86d0...","owner":"ci:deploy","name":"deploy","expireTime":"2030-01-01T00:00:00Z"}
          Fields a line leaves out are taken from the flags.

Options:
  --format <format>         lines or jsonl
  --sha256                  (lines) the lines are hex SHA-256 digests of the keys, not the keys
  --owner <owner>           owner of the keys (required unless every jsonl line has one)
  --name <name>             name of the keys (default: "<file name>:<line>")
  --scope <scope>           scopes to grant; repeat or comma-separate
  --meta <key=value>        metadata labels; repeat for several
  --expire-time <time>      when the keys stop verifying, e.g. 2030-01-31T00:00:00Z
  --batch-size <n>          keys per call, 1 to ${MAX_BATCH} (default ${MAX_BATCH})
  --skip-existing           a key that is already imported is skipped, not a failure
                            (makes a re-run after an interruption succeed)

${KEY_LIMIT_HELP}

Output:
  A table of the imported keys: file line, new key id, name. With --json, one ImportKeyResult
  (protobuf JSON) per key, in file order.
  Exit code 0 when every key was imported (or skipped), 1 when some failed.

${TENANT_HELP}

${CONNECTION_HELP}
`;

/** What the flags give every key; lines of a jsonl file may override each field. */
interface ImportDefaults {
  readonly file: string;
  readonly format: FileFormat;
  readonly sha256: boolean;
  readonly owner: string | undefined;
  readonly name: string | undefined;
  readonly scopes: string[];
  readonly metadata: Record<string, string>;
  readonly expireTime: Date | undefined;
  readonly limits: KeyLimits;
}

/** One key to import, with the line it came from; or why that line is not one. */
type ParsedLine = { readonly line: number; readonly request: ImportKeyRequest } | { readonly line: number; readonly problem: string } | undefined;

export const importKeys: Subcommand = {
  summary: "import existing keys of another system from a file, in batches",
  async run(args, ctx) {
    const options = {
      ...HELP_OPTION,
      ...OUTPUT_OPTIONS,
      ...CONNECTION_OPTIONS,
      ...KEY_LIMIT_OPTIONS,
      format: { type: "string" },
      sha256: { type: "boolean" },
      owner: { type: "string" },
      name: { type: "string" },
      scope: { type: "string", multiple: true },
      meta: { type: "string", multiple: true },
      "expire-time": { type: "string" },
      "batch-size": { type: "string" },
      "skip-existing": { type: "boolean" },
      ...TENANT_OPTION,
    } as const;
    const { values, positionals } = parseCommandArgs("keys import", args, options, { min: 1, max: 1, names: "one <file>" });
    if (values.help) return help(ctx, IMPORT_HELP);
    const file = path.resolve(ctx.cwd, positionals[0]!);
    const format: FileFormat =
      values.format !== undefined ? parseChoice("--format", values.format, { lines: "lines", jsonl: "jsonl" } as const) : /\.(jsonl|ndjson)$/i.test(file) ? "jsonl" : "lines";
    if (values.sha256 && format !== "lines") throw new UsageError("--sha256 applies to the lines format only (jsonl lines say rawKeySha256)");
    if (format === "lines" && values.owner === undefined) throw new UsageError("keys import: --owner is required for the lines format");
    const defaults: ImportDefaults = {
      file,
      format,
      sha256: values.sha256 === true,
      owner: values.owner === undefined ? undefined : checkOwner(values.owner),
      name: values.name === undefined ? undefined : checkName(values.name),
      scopes: checkScopes(values.scope),
      metadata: checkMetadata(values.meta),
      expireTime: values["expire-time"] === undefined ? undefined : parseExpireTimeFlag("--expire-time", values["expire-time"], Date.now(), LIMITS.maxKeyTtlMs),
      limits: parseKeyLimits(values),
    };
    const tenantId = resolveTenantFlag(values, ctx);
    const batchSize = values["batch-size"] === undefined ? MAX_BATCH : parseIntegerFlag("--batch-size", values["batch-size"], 1, MAX_BATCH);

    // First pass: the whole file is well formed, or nothing is sent.
    const { total, lastLine } = await checkFile(defaults);
    const { client, call } = await connect(values, ctx, { admin: true });
    const output = new CliOutput(ctx, values.json === true);
    const lineWidth = Math.max("LINE".length, String(lastLine).length);
    let headerPrinted = false;
    const counts = { imported: 0, skipped: 0, failed: 0 };

    const send = async (batch: Array<{ line: number; request: ImportKeyRequest }>) => {
      let response;
      try {
        response = await client.batchImportKeys({ requests: batch.map((b) => ({ ...b.request, tenantId })) }, call);
      } catch (err) {
        output.note(`stopped before line ${batch[0]!.line}: ${counts.imported} imported, ${counts.skipped} skipped, ${counts.failed} failed, ${total - done()} not sent`);
        throw err;
      }
      if (response.results.length !== batch.length) throw new CliError(`the server answered ${response.results.length} results for ${batch.length} keys`);
      response.results.forEach((result, i) => report(batch[i]!.line, result));
      const failedText = counts.failed > 0 ? `, failed ${counts.failed}` : "";
      const skippedText = counts.skipped > 0 ? `, skipped ${counts.skipped}` : "";
      output.note(`imported ${counts.imported}/${total}${skippedText}${failedText}`);
    };
    const done = () => counts.imported + counts.skipped + counts.failed;
    const report = (line: number, result: ImportKeyResult) => {
      if (output.json) output.message(ImportKeyResultSchema, result);
      if (result.result.case === "key") {
        counts.imported++;
        if (!output.json) {
          if (!headerPrinted) output.line(`${"LINE".padEnd(lineWidth)}  ${"KEY ID".padEnd(16)}  NAME`);
          headerPrinted = true;
          output.line(`${String(line).padEnd(lineWidth)}  ${result.result.value.keyId.padEnd(16)}  ${printable(result.result.value.name)}`);
        }
      } else if (values["skip-existing"] && result.result.case === "error" && result.result.value.code === Code.AlreadyExists) {
        counts.skipped++;
      } else {
        counts.failed++;
        const error = result.result.case === "error" ? result.result.value : undefined;
        if (!output.json) output.note(`line ${line}: ${error ? `${codeName(error.code)}: ${error.message}` : "no result"}`);
      }
    };

    let batch: Array<{ line: number; request: ImportKeyRequest }> = [];
    for await (const parsed of parseFile(defaults)) {
      if (!parsed) continue;
      if ("problem" in parsed) throw new CliError(`${file}: line ${parsed.line} changed during the import: ${parsed.problem}`);
      batch.push(parsed);
      if (batch.length === batchSize) {
        await send(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await send(batch);
    if (done() !== total) throw new CliError(`${file} changed during the import: ${done()} keys read, ${total} counted before`);
    if (counts.failed > 0) throw new CliError(`${counts.failed} of ${total} keys were not imported (see the lines above)`);
    return 0;
  },
};

/** Reads the whole file once: counts its keys and lists the first malformed lines, if any. */
async function checkFile(defaults: ImportDefaults): Promise<{ total: number; lastLine: number }> {
  const problems: string[] = [];
  let total = 0;
  let lastLine = 0;
  let problemCount = 0;
  for await (const parsed of parseFile(defaults)) {
    if (!parsed) continue;
    if ("problem" in parsed) {
      problemCount++;
      if (problems.length < MAX_LISTED_PROBLEMS) problems.push(`line ${parsed.line}: ${parsed.problem}`);
    } else {
      total++;
      lastLine = parsed.line;
    }
  }
  if (problemCount > 0) {
    const more = problemCount > problems.length ? `; and ${problemCount - problems.length} more` : "";
    throw new CliError(`${defaults.file} has ${problemCount} malformed line${problemCount === 1 ? "" : "s"}, nothing was imported: ${problems.join("; ")}${more}`);
  }
  if (total === 0) throw new CliError(`${defaults.file} holds no keys`);
  return { total, lastLine };
}

async function* parseFile(defaults: ImportDefaults): AsyncGenerator<ParsedLine> {
  for await (const line of readLines(defaults.file, MAX_LINE_BYTES)) yield parseLine(line, defaults);
}

/** One line as an ImportKeyRequest. Problems describe the line, never quote it: it holds a key. */
function parseLine(line: Line, defaults: ImportDefaults): ParsedLine {
  const text = line.text.trim();
  if (text.length === 0 || text.startsWith("#")) return undefined;
  let request: ImportKeyRequest;
  if (defaults.format === "lines") {
    if (/\s/.test(text)) return { line: line.number, problem: "a key must not contain spaces (is this a jsonl file? see --format)" };
    if (defaults.sha256 && !/^[0-9a-fA-F]{64}$/.test(text)) return { line: line.number, problem: "not a hex SHA-256 (64 hex digits)" };
    request = create(ImportKeyRequestSchema, {
      keyMaterial: defaults.sha256 ? { case: "rawKeySha256", value: text.toLowerCase() } : { case: "rawKey", value: text },
    });
  } else {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // JSON.parse's message quotes the text, which holds a key.
      return { line: line.number, problem: "not valid JSON" };
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) return { line: line.number, problem: "not a JSON object" };
    try {
      request = fromJson(ImportKeyRequestSchema, json as JsonObject);
    } catch (err) {
      return { line: line.number, problem: describeJsonProblem((err as Error).message) };
    }
    if (request.keyMaterial.case === undefined) return { line: line.number, problem: "has neither rawKey nor rawKeySha256" };
    if (request.keyMaterial.case === "rawKeySha256" && !/^[0-9a-fA-F]{64}$/.test(request.keyMaterial.value)) {
      return { line: line.number, problem: "rawKeySha256 is not a hex SHA-256 (64 hex digits)" };
    }
  }
  // The server's rule for key strings, checked before anything is sent.
  if (request.keyMaterial.case === "rawKey") {
    const problem = importableKeyProblem(request.keyMaterial.value);
    if (problem) return { line: line.number, problem };
  }
  request.name ||= defaults.name ?? `${path.basename(defaults.file)}:${line.number}`.slice(-128);
  request.owner ||= defaults.owner ?? "";
  if (!request.owner) return { line: line.number, problem: "has no owner (give one in the line or with --owner)" };
  if (request.scopes.length === 0) request.scopes = defaults.scopes;
  if (Object.keys(request.metadata).length === 0) request.metadata = defaults.metadata;
  request.expireTime ??= defaults.expireTime ? timestampFromDate(defaults.expireTime) : undefined;
  request.rateLimit ??= defaults.limits.rateLimit;
  request.credits ??= defaults.limits.credits;
  if (request.allowedNetworks.length === 0) request.allowedNetworks = defaults.limits.allowedNetworks ?? [];
  return { line: line.number, request };
}

/** Why a string cannot be imported (described, never quoted), or undefined when it can. */
function importableKeyProblem(raw: string): string | undefined {
  if (isPlausibleImportedKey(raw)) return undefined;
  if (hasSigilKeyShape(raw)) return "is in Sigil's own key format; such keys are issued, not imported";
  if (raw.length < IMPORTED_KEY_MIN_CHARS) return `the key is shorter than ${IMPORTED_KEY_MIN_CHARS} characters`;
  if (raw.length > IMPORTED_KEY_MAX_CHARS) return `the key is longer than ${IMPORTED_KEY_MAX_CHARS} characters`;
  return "the key must be printable ASCII characters without spaces";
}

/**
 * protobuf-es explains a JSON decoding failure in a message that can quote the offending value
 * (which may be a key): keep only the name of the field.
 */
function describeJsonProblem(message: string): string {
  const field = /cannot decode (?:field|oneof) ([\w.]+) from JSON/.exec(message)?.[1];
  const message_ = /cannot decode message ([\w.]+) from JSON/.exec(message)?.[1];
  // The unknown property's name is not repeated: a misplaced key could be that name.
  if (/key ".*" is unknown/.test(message)) return "not an ImportKeyRequest: has an unknown field (fields are rawKey, rawKeySha256, name, owner, scopes, metadata, expireTime, rateLimit, credits, allowedNetworks)";
  if (field) return `not an ImportKeyRequest: bad value for ${field.replace(/^sigil\.v1\./, "")}`;
  if (message_) return `not an ImportKeyRequest: bad value of type ${message_.replace(/^sigil\.v1\./, "")}`;
  return "not an ImportKeyRequest";
}
