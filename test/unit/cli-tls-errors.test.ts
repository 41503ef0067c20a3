import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { CliError } from "../../src/cli/cli-args.js";
import { explainConnectionFailure } from "../../src/cli/cli-tls.js";

/** A ConnectError as connect-node makes it from a Node socket or TLS error. */
const failure = (code: Code, message: string, causeCode?: string) =>
  new ConnectError(message, code, undefined, undefined, causeCode ? Object.assign(new Error(message), { code: causeCode }) : undefined);

const lineOf = (err: unknown, secure: boolean): string | undefined => {
  const explained = explainConnectionFailure(err, secure);
  return explained instanceof ConnectError && explained.cause instanceof CliError ? explained.cause.message : undefined;
};

describe("CLI: TLS and protocol mismatches as one line", () => {
  it("says what to change for each way a mismatch shows up", () => {
    const cases: Array<[ConnectError, boolean, RegExp]> = [
      [failure(Code.Internal, "…:ssl3_get_record:wrong version number:…", "ERR_SSL_WRONG_VERSION_NUMBER"), true, /did not answer TLS: it serves plaintext/],
      [failure(Code.Internal, "unable to get local issuer certificate", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"), true, /not trusted \(UNABLE_TO_GET_ISSUER_CERT_LOCALLY\): pass the CA/],
      [failure(Code.Internal, "…tlsv13 alert certificate required…", "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"), true, /requires a client certificate \(mTLS\)/],
      [failure(Code.Internal, "…tlsv1 alert unknown ca…", "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA"), true, /refused the client certificate/],
      [failure(Code.Internal, "Protocol error", "ERR_HTTP2_ERROR"), false, /not the HTTP listener/],
      [failure(Code.Aborted, "read ECONNRESET", "ECONNRESET"), true, /closed the TLS connection without answering: if it requires client certificates/],
      [failure(Code.Canceled, "http/2 stream closed with error code CANCEL (0x8)"), false, /closed the connection without answering: if it uses TLS, use https:\/\//],
    ];
    for (const [err, secure, expected] of cases) {
      const line = lineOf(err, secure);
      assert.match(line ?? "(unchanged)", expected);
      assert.doesNotMatch(line!, /ssl3|\.c:|Protocol error/);
    }
  });

  it("passes other errors unchanged", () => {
    const notFound = new ConnectError("key not found", Code.NotFound);
    assert.equal(explainConnectionFailure(notFound, true), notFound);
    const refused = failure(Code.Unavailable, "connect ECONNREFUSED 127.0.0.1:1", "ECONNREFUSED");
    assert.equal(explainConnectionFailure(refused, false), refused);
  });
});
