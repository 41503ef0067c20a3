/**
 * `@sigil/client/express`: middleware for Express (4 and 5) routes. It puts the verified identity
 * on `req.sigil`, or answers 401 (`WWW-Authenticate: Bearer`), 403, 429 (`Retry-After`) or 503
 * with a JSON body, and the handler never runs.
 *
 *   const sigil = sigilExpress(auth);
 *   app.get("/invoices", sigil.require("invoices:read"), (req, res) => res.json({ owner: req.sigil!.owner }));
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { credentialFromHeader } from "./middleware/credential.js";
import { httpDenial, type SigilDenial } from "./middleware/denial.js";
import type { SigilIdentity } from "./middleware/identity.js";
import type { SigilAuth } from "./middleware/sigil-auth.js";

export type { SigilIdentity } from "./middleware/identity.js";
export type { SigilDenial } from "./middleware/denial.js";

declare global {
  // Express's Request type extends this interface (@types/express-serve-static-core).
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `@sigil/client/express` middleware on the routes it protects. */
      sigil?: SigilIdentity;
    }
  }
}

/** What the middleware reads of a request: Node's, plus Express's `ip` (which honours `trust proxy`). */
type SigilRequest = IncomingMessage & { ip?: string; sigil?: SigilIdentity };
type NextFunction = (err?: unknown) => void;
/** Structural, so this module needs neither express nor its types at run time or compile time. */
export type SigilExpressHandler = (req: SigilRequest, res: ServerResponse, next: NextFunction) => void;

export interface SigilExpressOptions {
  /** The client address to pass to VerifyKey. Default: `req.ip`, else the socket's remote address. */
  readonly clientIp?: (req: SigilRequest) => string | undefined;
  /** Answer a denial yourself (default: status, headers and a JSON body, see httpDenial). */
  readonly onDenied?: (denial: SigilDenial, req: SigilRequest, res: ServerResponse) => void;
}

export interface SigilExpress {
  /** Middleware that lets a request through only with a valid credential holding these scopes. */
  require(...scopes: string[]): SigilExpressHandler;
}

export function sigilExpress(auth: SigilAuth, options: SigilExpressOptions = {}): SigilExpress {
  const clientIpOf = options.clientIp ?? ((req: SigilRequest) => req.ip ?? req.socket.remoteAddress);
  const bearer = auth.header === "authorization";
  const deny =
    options.onDenied ??
    ((denial: SigilDenial, _req: SigilRequest, res: ServerResponse) => {
      const answer = httpDenial(denial, auth.realm);
      res.writeHead(answer.statusCode, { ...answer.headers, "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify(answer.body));
    });
  return {
    require(...scopes) {
      return (req, res, next) => {
        const credential = credentialFromHeader(req.headers[auth.header], bearer);
        Promise.resolve(auth.authenticate(credential, { requiredScopes: scopes, clientIp: clientIpOf(req) })).then((result) => {
          if (result.ok) {
            req.sigil = result.identity;
            next();
          } else {
            deny(result.denial, req, res);
          }
        }, next);
      };
    },
  };
}
