// Koa and Express middlewares around the verifier: a request without a valid token is answered here with the
// status and `WWW-Authenticate` challenge RFC 6750 / RFC 9449 / RFC 9728 want; a verified one continues with
// `ctx.state.agentauth` (Koa) or `req.agentauth` (Express) saying who acts.
import { challenge, VerifyError } from './errors.js';
import type { AgentAuthVerifier, PresentedRequest, VerifiedAccess, VerifyOptions } from './index.js';

type HeaderBag = Record<string, string | string[] | undefined>;
const one = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/** The absolute URL of a request, for DPoP `htu`; behind a proxy, pass `publicOrigin`. */
function requestUrl(headers: HeaderBag, path: string, protocol: string, publicOrigin?: string): string {
  return new URL(path, publicOrigin ?? `${protocol}://${one(headers.host) ?? 'localhost'}`).href;
}

function presented(method: string, url: string, headers: HeaderBag): PresentedRequest {
  return { method, url, authorization: one(headers.authorization), dpop: one(headers.dpop) };
}

function refusal(verifier: AgentAuthVerifier, error: VerifyError) {
  return {
    status: error.code === 'invalid_request' ? 401 : error.status,
    header: challenge(verifier.options, error),
    body: error.code === 'invalid_request' ? { error: 'unauthorized', error_description: error.message } : { error: error.code, error_description: error.message },
  };
}

export type MiddlewareOptions = VerifyOptions & { publicOrigin?: string };

type KoaLikeContext = {
  method: string;
  originalUrl: string;
  protocol: string;
  headers: HeaderBag;
  state: Record<string, unknown>;
  status: number;
  body: unknown;
  set(name: string, value: string): void;
};

export function koaMiddleware(verifier: AgentAuthVerifier, options: MiddlewareOptions = {}) {
  return async (ctx: KoaLikeContext, next: () => Promise<unknown>) => {
    try {
      ctx.state.agentauth = await verifier.verify(presented(ctx.method, requestUrl(ctx.headers, ctx.originalUrl, ctx.protocol, options.publicOrigin), ctx.headers), options);
    } catch (error) {
      if (!(error instanceof VerifyError)) throw error;
      const answer = refusal(verifier, error);
      ctx.set('WWW-Authenticate', answer.header);
      ctx.status = answer.status;
      ctx.body = answer.body;
      return;
    }
    await next();
  };
}

type ExpressLikeRequest = { method: string; originalUrl: string; protocol: string; headers: HeaderBag; agentauth?: VerifiedAccess };
type ExpressLikeResponse = { status(code: number): ExpressLikeResponse; set(name: string, value: string): ExpressLikeResponse; json(body: unknown): unknown };

export function expressMiddleware(verifier: AgentAuthVerifier, options: MiddlewareOptions = {}) {
  return (req: ExpressLikeRequest, res: ExpressLikeResponse, next: (error?: unknown) => void) => {
    verifier
      .verify(presented(req.method, requestUrl(req.headers, req.originalUrl, req.protocol, options.publicOrigin), req.headers), options)
      .then((access) => {
        req.agentauth = access;
        next();
      })
      .catch((error: unknown) => {
        if (!(error instanceof VerifyError)) return next(error);
        const answer = refusal(verifier, error);
        res.set('WWW-Authenticate', answer.header).status(answer.status).json(answer.body);
      });
  };
}

/** RFC 9728 protected resource metadata for this resource, to serve at `/.well-known/oauth-protected-resource…`. */
export function protectedResourceMetadata(verifier: AgentAuthVerifier, extra: { scopes_supported?: string[]; resource_name?: string } = {}) {
  return {
    resource: verifier.options.audience,
    authorization_servers: [verifier.options.issuer],
    bearer_methods_supported: ['header'],
    dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'RS256', 'PS256'],
    ...extra,
  };
}
