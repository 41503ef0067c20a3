// Builds @sigil/client for `npm pack` (its prepack script): compiles src/ to dist/ with the
// repository's TypeScript, and copies in what lives once at the repository root: the sigil/v1
// .proto files and the LICENSE. Nothing here is committed (see .gitignore).
import { execFileSync } from "node:child_process";
import { cpSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const pkg = fileURLToPath(new URL("..", import.meta.url));
const root = fileURLToPath(new URL("../../..", import.meta.url));

for (const dir of ["dist", "proto"]) rmSync(`${pkg}/${dir}`, { recursive: true, force: true });
execFileSync(process.execPath, [`${root}/node_modules/typescript/bin/tsc`, "-p", `${pkg}/tsconfig.json`], { stdio: "inherit" });
cpSync(`${root}/proto/sigil`, `${pkg}/proto/sigil`, { recursive: true });
cpSync(`${root}/LICENSE`, `${pkg}/LICENSE`);
