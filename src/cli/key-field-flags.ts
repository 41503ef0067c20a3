import { requireKeyId, requireMetadata, requireName, requireOwner, requireScopes } from "../service/request-validation.js";
import { parseMetadata, parseScopes } from "./cli-args.js";
import { checkFlag } from "./flag-checks.js";

/** The flags of a key's fields (keys issue, update, import), checked with the server's rules. */

export function checkName(name: string): string {
  return checkFlag("--name", () => requireName(name));
}

export function checkOwner(owner: string): string {
  return checkFlag("--owner", () => requireOwner(owner));
}

/** `--scope` values (repeated and/or comma-separated), as the server will take them. */
export function checkScopes(values: readonly string[] | undefined, flag = "--scope"): string[] {
  return checkFlag(flag, () => requireScopes(parseScopes(values)));
}

/** `--meta key=value` values. */
export function checkMetadata(values: readonly string[] | undefined): Record<string, string> {
  return checkFlag("--meta", () => requireMetadata(parseMetadata("--meta", values)));
}

/** A `<key-id>` argument. Its error never quotes it: a secret pasted there must not be printed. */
export function checkKeyId(keyId: string, flag = "<key-id>"): string {
  return checkFlag(flag, () => requireKeyId(keyId));
}
