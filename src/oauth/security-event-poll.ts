// `POST {issuer}/events/poll`: the RFC 8936 poll endpoint of the security event feed (src/revocation/security-events.ts).
// A resource server authenticates as its own OAuth client (HTTP Basic with client_id and client_secret, RFC 6749
// §2.3.1) whose metadata names its resource identifier (`resource_server`, as for introspection); it receives only
// events addressed to that identifier. Request: `{ "maxEvents"?, "returnImmediately"?, "ack"?, "setErrs"? }`;
// response: `{ "sets": { "<jti>": "<SET>" }, "moreAvailable": bool }`.
import type { Middleware } from 'koa';
import { z } from 'zod';
import { requestOrigin, type AuditLog } from '../audit/audit-log.js';
import { onlyFor } from '../http/paths.js';
import { bufferedBody } from '../http/request-body.js';
import type { ClientStore } from '../clients/client-store.js';
import type { SecretHasher } from '../secrets/secret-hasher.js';
import type { SecurityEventFeed } from '../revocation/security-events.js';

const DEFAULT_MAX_EVENTS = 100;

const pollBody = z
  .object({
    maxEvents: z.number().int().min(0).max(1000).optional(),
    returnImmediately: z.boolean().optional(),
    ack: z.array(z.string().max(100)).max(1000).optional(),
    setErrs: z.record(z.string().max(100), z.object({ err: z.string(), description: z.string() })).optional(),
  })
  .strict();

class PollError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function securityEventPollRoute(deps: { prefix: string; feed: SecurityEventFeed; clients: ClientStore; secrets: SecretHasher; audit: AuditLog }): Middleware {
  const path = `${deps.prefix}/events/poll`;
  return onlyFor((ctx) => ctx.path === path, async (ctx) => {
    try {
      if (ctx.method !== 'POST') throw new PollError(405, 'invalid_request', 'use POST');
      const audience = await authenticate(ctx.get('authorization'));
      const body = pollBody.safeParse(parseJson(bufferedBody(ctx)));
      if (!body.success) throw new PollError(400, 'invalid_request', body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
      const { setErrs = {} } = body.data;
      for (const [jti, error] of Object.entries(setErrs)) ctx.state.log?.warn({ jti, audience, err: error.err, description: error.description }, 'a resource server could not process a security event');
      // Before the answer is sent, the response closes only if the receiver went away: a long poll stops waiting.
      let closed = false;
      ctx.res.once('close', () => (closed = true));
      ctx.body = await deps.feed.poll(
        audience,
        {
          maxEvents: body.data.maxEvents ?? DEFAULT_MAX_EVENTS,
          returnImmediately: body.data.returnImmediately ?? false,
          ack: body.data.ack ?? [],
          setErrs,
        },
        () => closed,
      );
      ctx.set('Cache-Control', 'no-store');
    } catch (error) {
      if (!(error instanceof PollError)) throw error;
      if (error.status === 401 || error.status === 403) {
        // A receiver that failed to authenticate, or a client that is no resource server's: on the record, once.
        await deps.audit.record({
          action: 'events.refused',
          outcome: 'failure',
          actor: { kind: 'app' },
          ...requestOrigin(ctx),
          details: { rule: error.status === 401 ? 'client_authentication' : 'not_a_resource_server', error: error.code },
        });
      }
      ctx.status = error.status;
      ctx.body = { error: error.code, error_description: error.message };
      if (error.status === 401) ctx.set('WWW-Authenticate', 'Basic realm="agentauth-events"');
    }
  });

  /** The resource identifier of the authenticated resource server's client. */
  async function authenticate(header: string): Promise<string> {
    const refuse = () => new PollError(401, 'invalid_client', 'authenticate with the resource server’s client_id and client_secret (HTTP Basic)');
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
    if (!match) throw refuse();
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw refuse();
    let clientId: string;
    let secret: string;
    try {
      clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
      secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
    } catch {
      throw refuse();
    }
    const metadata = (await deps.clients.findMetadata(clientId)) as { client_secret?: string; resource_server?: string } | undefined;
    if (!metadata?.client_secret || !deps.secrets.verify(secret, metadata.client_secret)) throw refuse();
    if (!metadata.resource_server) throw new PollError(403, 'access_denied', 'this client is not a resource server’s client');
    return metadata.resource_server;
  }
}

/** The body the HTTP edge read (at most BODY_LIMITS.events) and checked against the input rule. */
function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new PollError(400, 'invalid_request', 'the body must be JSON');
  }
}
