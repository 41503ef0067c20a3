/**
 * The client package's version, sent in its User-Agent. A constant rather than a read of
 * package.json: the same sources are also compiled into the server's dist/, where no package.json
 * of the client sits beside them. test/unit/client-version.test.ts keeps it equal to
 * clients/typescript/package.json.
 */
export const SIGIL_CLIENT_VERSION = "0.1.0";
