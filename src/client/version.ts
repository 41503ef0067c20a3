import { readFileSync } from "node:fs";

/**
 * Sigil's version, from package.json (read once; the compiled file sits at
 * dist/src/client/version.js, three levels below it). The SDK sends it in its User-Agent; the
 * server reports it in `sigil --version`, its start-up line and /healthz.
 */
export const SIGIL_VERSION: string = (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
