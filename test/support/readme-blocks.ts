import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const README = fileURLToPath(new URL("../../../README.md", import.meta.url));

/** The ```sh blocks of the README subsection whose heading starts with `heading`, in order. */
export function readmeShBlocks(heading: string): string[] {
  return readmeBlocks(heading, "sh");
}

/** The ```ts blocks of the README subsection whose heading starts with `heading`, in order. */
export function readmeTsBlocks(heading: string): string[] {
  return readmeBlocks(heading, "ts");
}

function readmeBlocks(heading: string, language: string): string[] {
  const text = readFileSync(README, "utf8");
  const start = text.indexOf(heading);
  assert.ok(start >= 0, `README has a "${heading}" subsection`);
  const section = text.slice(start, text.indexOf("\n### ", start + 4));
  return [...section.matchAll(new RegExp("```" + language + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!);
}

/** Runs a bash script (README commands), with a timeout. */
export const bash = (script: string, options: { cwd: string; env: Record<string, string> }) =>
  promisify(execFile)("bash", ["-c", script], { ...options, encoding: "utf8", timeout: 120_000 });

/**
 * The arguments of a README `sigil serve …` line with the machine-specific places replaced by test
 * ones: listen addresses by free local ports, each data dir by a fresh temporary one (kept in
 * `dataDirs`, by the README's path), and `--tls-*-file` paths taken relative to `filesDir`.
 */
export function localServeArgs(line: string, dataDirs: Map<string, string>, filesDir?: string): string[] {
  const args = line.trim().split(/\s+/).slice(2); // after "sigil serve"
  return args.map((arg, i) => {
    const flag = args[i - 1];
    if (flag === "--grpc-addr" || flag === "--http-addr" || flag === "--metrics-addr") return "127.0.0.1:0";
    if (flag === "--data-dir") {
      if (!dataDirs.has(arg)) dataDirs.set(arg, mkdtempSync(path.join(tmpdir(), "sigil-deploy-")));
      return dataDirs.get(arg)!;
    }
    if (filesDir !== undefined && flag?.startsWith("--tls-")) return path.join(filesDir, arg);
    return arg;
  });
}

