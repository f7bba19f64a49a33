// RFC 9728 protected resource metadata for registered resource servers. The document belongs at the resource
// server's own origin (`<resource>/.well-known/oauth-protected-resource`), so this server publishes it for each
// registered resource at `GET {issuer}/resource-metadata?resource=<identifier>`; a resource server serves (or proxies
// and caches) that document at its well-known location and points clients to it with
// `WWW-Authenticate: Bearer resource_metadata="<that URL>"` (RFC 9728 §5.1).
import type { Middleware } from 'koa';
import type { Resource, ResourceStore } from './resource-store.js';

export function protectedResourceMetadata(resource: Resource, issuer: string): Record<string, unknown> {
  return {
    resource: resource.identifier,
    resource_name: resource.name,
    authorization_servers: [issuer],
    scopes_supported: resource.scopes.map((scope) => scope.name),
    bearer_methods_supported: ['header'],
    dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'RS256', 'PS256'],
  };
}

export function protectedResourceMetadataRoute(prefix: string, issuer: string, resources: ResourceStore): Middleware {
  const path = `${prefix}/resource-metadata`;
  const serve: Middleware = async (ctx, next) => {
    // Public metadata read by browser-based clients (MCP inspectors, web agents) from other origins: open CORS, as
    // oidc-provider does for its discovery document and JWKS.
    if (ctx.method === 'OPTIONS') {
      ctx.set('Access-Control-Allow-Origin', '*');
      ctx.set('Access-Control-Allow-Methods', 'GET, HEAD');
      ctx.set('Access-Control-Max-Age', '3600');
      ctx.status = 204;
      return;
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    ctx.set('Access-Control-Allow-Origin', '*');
    const identifier = ctx.query.resource;
    if (typeof identifier !== 'string' || identifier === '') {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'give the resource identifier as ?resource=' };
      return;
    }
    const resource = await resources.findByIdentifier(identifier);
    if (!resource) {
      ctx.status = 404;
      ctx.body = { error: 'invalid_target', error_description: `${identifier} is not a registered resource server` };
      return;
    }
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = protectedResourceMetadata(resource, issuer);
  };
  // Every other request goes straight on, with no async frame of this route's (src/http/paths.ts, onlyFor).
  return (ctx, next) => (ctx.path === path ? serve(ctx, next) : next());
}
