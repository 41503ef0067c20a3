import { readFileSync } from "node:fs";

/**
 * The server's version, from the repository's package.json (read once; the compiled file sits at
 * dist/src/app/version.js, three levels below it). The server reports it in `sigil --version`, its
 * start-up line and /healthz. The client package has its own (SIGIL_CLIENT_VERSION).
 */
export const SIGIL_VERSION: string = (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
