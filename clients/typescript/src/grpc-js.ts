/**
 * `@sigil/client/grpc-js`: a grpc-js (>= 1.10) server interceptor that verifies each call's
 * `authorization: Bearer <credential>` metadata with Sigil before the handler sees the call.
 *
 *   const server = new grpc.Server({ interceptors: [sigilGrpcInterceptor(sigil, { scopes: { "/billing.v1.Invoices/List": ["invoices:read"] } })] });
 *   // in a handler:
 *   const identity = sigilIdentity(call)!; // key id, owner, scopes, kind, parent key id
 */
import { Metadata, ServerInterceptingCall, status, type ServerInterceptingCallInterface, type ServerInterceptor } from "@grpc/grpc-js";
import { credentialFromHeader } from "./middleware/credential.js";
import { DENIAL_CODE, type SigilDenial } from "./middleware/denial.js";
import type { SigilIdentity } from "./middleware/identity.js";
import { methodPolicy, type SigilMethodOptions } from "./middleware/method-policy.js";
import type { SigilAuth, SigilAuthResult } from "./middleware/sigil-auth.js";

export type { SigilMethodOptions } from "./middleware/method-policy.js";
export type { SigilIdentity } from "./middleware/identity.js";

export interface SigilGrpcInterceptorOptions extends SigilMethodOptions {
  /** The client address to pass to VerifyKey. Default: the connection's remote address. */
  readonly clientIp?: (call: ServerInterceptingCallInterface, metadata: Metadata) => string | undefined;
}

/**
 * The identity of each authenticated call, keyed by the call's request Metadata object: grpc-js
 * hands the handler the object the interceptor passed on, and nothing a client sends can put an
 * entry here (a header could be forged, this cannot).
 */
const identities = new WeakMap<Metadata, SigilIdentity>();

/** The verified identity of a call, in its handler; undefined for a public method (or without the interceptor). */
export function sigilIdentity(call: { readonly metadata: Metadata }): SigilIdentity | undefined {
  return identities.get(call.metadata);
}

export function sigilGrpcInterceptor(auth: SigilAuth, options: SigilGrpcInterceptorOptions = {}): ServerInterceptor {
  const ruleOf = methodPolicy(options, "sigilGrpcInterceptor");
  const clientIpOf = options.clientIp ?? remoteAddress;
  const bearer = auth.header === "authorization";
  return (methodDescriptor, call) => {
    const rule = ruleOf(methodDescriptor.path);
    if (rule.public) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, forward) {
            const credential = credentialFromHeader(metadata.get(auth.header)[0] as string | undefined, bearer);
            const settle = (result: SigilAuthResult) => {
              if (result.ok) {
                identities.set(metadata, result.identity);
                forward(metadata);
              } else {
                call.sendStatus(grpcStatus(result.denial));
              }
            };
            let result: SigilAuthResult | Promise<SigilAuthResult>;
            try {
              result = auth.authenticate(credential, { requiredScopes: rule.scopes, clientIp: clientIpOf(call, metadata) });
            } catch {
              return call.sendStatus({ code: status.INTERNAL, details: "credential check failed" });
            }
            // A cache hit answers at once; a VerifyKey call later (grpc-js holds the messages meanwhile).
            if ("ok" in result) settle(result);
            else result.then(settle, () => call.sendStatus({ code: status.INTERNAL, details: "credential check failed" }));
          },
        });
      },
    });
  };
}

function grpcStatus(denial: SigilDenial): { code: status; details: string; metadata?: Metadata } {
  const code = DENIAL_CODE[denial.status] as number as status;
  if (denial.retryAfterSeconds === undefined) return { code, details: denial.message };
  const trailers = new Metadata();
  trailers.set("retry-after", String(denial.retryAfterSeconds));
  return { code, details: denial.message, metadata: trailers };
}

/** The connection's remote address (grpc-js >= 1.11), else the address part of getPeer(). */
function remoteAddress(call: ServerInterceptingCallInterface): string | undefined {
  const address = (call as Partial<Pick<ServerInterceptingCallInterface, "getConnectionInfo">>).getConnectionInfo?.().remoteAddress;
  if (address) return address;
  const peer = call.getPeer();
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(peer);
  if (bracketed) return bracketed[1];
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(peer);
  return v4 ? v4[1] : undefined;
}
