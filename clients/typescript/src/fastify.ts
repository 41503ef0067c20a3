/**
 * `@sigil/client/fastify`: an `onRequest` hook for Fastify (4 and 5) routes. It puts the verified
 * identity on `request.sigil`, or answers 401 (`WWW-Authenticate: Bearer`), 403, 429
 * (`Retry-After`) or 503 with a JSON body, and the handler never runs.
 *
 *   const sigil = sigilFastify(auth);
 *   await app.register(sigil.plugin);
 *   app.get("/invoices", { onRequest: sigil.require("invoices:read") }, async (req) => ({ owner: req.sigil!.owner }));
 */
import type { FastifyPluginCallback, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from "fastify";
import { credentialFromHeader } from "./middleware/credential.js";
import { httpDenial, type SigilDenial } from "./middleware/denial.js";
import type { SigilIdentity } from "./middleware/identity.js";
import type { SigilAuth } from "./middleware/sigil-auth.js";

export type { SigilIdentity } from "./middleware/identity.js";
export type { SigilDenial } from "./middleware/denial.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by `@sigil/client/fastify` hooks on the routes they protect; null elsewhere. */
    sigil: SigilIdentity | null;
  }
}

export interface SigilFastifyOptions {
  /** The client address to pass to VerifyKey. Default: `request.ip` (honours `trustProxy`). */
  readonly clientIp?: (request: FastifyRequest) => string | undefined;
  /** Answer a denial yourself (default: status, headers and a JSON body, see httpDenial). */
  readonly onDenied?: (denial: SigilDenial, request: FastifyRequest, reply: FastifyReply) => FastifyReply | Promise<FastifyReply>;
}

export interface SigilFastify {
  /** Declares `request.sigil` (null until a hook sets it) on the whole app: register it once. */
  readonly plugin: FastifyPluginCallback;
  /** An onRequest hook that lets a request through only with a valid credential holding these scopes. */
  require(...scopes: string[]): onRequestAsyncHookHandler;
}

export function sigilFastify(auth: SigilAuth, options: SigilFastifyOptions = {}): SigilFastify {
  const clientIpOf = options.clientIp ?? ((request: FastifyRequest) => request.ip);
  const bearer = auth.header === "authorization";
  const deny =
    options.onDenied ??
    ((denial: SigilDenial, _request: FastifyRequest, reply: FastifyReply) => {
      const answer = httpDenial(denial, auth.realm);
      return reply.code(answer.statusCode).headers({ ...answer.headers, "cache-control": "no-store" }).send(answer.body);
    });
  const plugin: FastifyPluginCallback = (app, _opts, done) => {
    if (!app.hasRequestDecorator("sigil")) app.decorateRequest("sigil", null);
    done();
  };
  // What fastify-plugin does: decorate the app itself, not an encapsulated child context.
  Object.assign(plugin, { [Symbol.for("skip-override")]: true, [Symbol.for("fastify.display-name")]: "@sigil/client" });
  return {
    plugin,
    require(...scopes) {
      return async (request, reply) => {
        const credential = credentialFromHeader(request.headers[auth.header], bearer);
        const result = await auth.authenticate(credential, { requiredScopes: scopes, clientIp: clientIpOf(request) });
        if (result.ok) {
          request.sigil = result.identity;
          return;
        }
        return deny(result.denial, request, reply);
      };
    },
  };
}
