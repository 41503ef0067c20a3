import { Code, ConnectError } from "@connectrpc/connect";

/** The gRPC code a call failed with, or "ok". */
export async function codeOf(p: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

/** The error a call failed with; fails the test if it succeeded. */
export async function errorOf(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

/**
 * A call's outcome as one comparable string: "ok", or the code name and message, with `id` (the
 * object the call named) written as <id>, so answers about two objects can be compared.
 */
export async function answerOf(p: Promise<unknown>, id = ""): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    const e = ConnectError.from(err);
    return `${Code[e.code]}: ${id ? e.rawMessage.replaceAll(id, "<id>") : e.rawMessage}`;
  }
}
