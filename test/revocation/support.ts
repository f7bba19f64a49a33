// Shared by the revocation tests: a world of one resource server, humans and agents with standing approvals, the
// A → B → C delegation chain built through real token exchanges, and the two checks every affected token must fail
// (introspection says inactive; presenting it as a subject token is refused).
import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import type { RunningServer } from '../../src/server.js';
import { mintHumanToken } from '../support/tokens.js';

export const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const AT = 'urn:ietf:params:oauth:token-type:access_token';
export const API = 'https://files.example.test';

export type Credentials = { id: string; secret: string };
type Server = Pick<RunningServer, 'provider' | 'stores' | 'issuer'>;

export function world(server: Server) {
  const configFor = (c: Credentials) =>
    client.discovery(new URL(server.issuer), c.id, undefined, client.ClientSecretBasic(c.secret), { execute: [client.allowInsecureRequests] });

  async function agent(name: string, owner: string, approvedFor: string[]): Promise<Credentials> {
    const { agent: created, clientSecret } = await server.stores.agents.create({
      name,
      ownerUserId: owner,
      scopes: ['files:read', 'files:write'],
      audiences: [API],
      maxTokenTtl: 300,
      tokenEndpointAuthMethod: 'client_secret_basic',
    });
    for (const userId of approvedFor) {
      await server.stores.approvals.create({ userId, agentId: created.id, scopes: ['files:read', 'files:write'], resources: [API], grantedVia: 'admin' });
    }
    return { id: created.id, secret: clientSecret! };
  }

  async function exchange(actor: Credentials, params: Record<string, string>): Promise<string> {
    const response = await client.genericGrantRequest(await configFor(actor), GRANT, { subject_token_type: AT, ...params });
    return response.access_token;
  }

  /** The error code an exchange with `token` as subject is refused with (throws if it is not refused). */
  async function refusedExchange(actor: Credentials, token: string): Promise<string> {
    const outcome = await exchange(actor, { subject_token: token, resource: API }).then(
      () => 'issued',
      async (error: { error?: string; response?: Response }) => {
        if (error.error) return error.error;
        // A 401 with a WWW-Authenticate challenge (client authentication refused) carries its error in the body.
        const body = (await error.response?.json().catch(() => undefined)) as { error?: string } | undefined;
        return body?.error ?? String(error);
      },
    );
    if (outcome === 'issued') throw new Error(`the exchange by ${actor.id} was not refused`);
    return outcome;
  }

  /** RFC 7662 introspection as `as` (the token's client, or the resource server's own client for tokens it receives). */
  async function active(as: Credentials, token: string): Promise<boolean> {
    return (await client.tokenIntrospection(await configFor(as), token)).active;
  }

  const humanToken = (userId: string, clientId: string) => mintHumanToken(server, { userId, clientId, resource: API, scopes: ['files:read', 'files:write'] });

  /** A human's token to A, delegated A → B → C, with each agent's own token for the API on the way. */
  async function chain(userId: string, A: Credentials, B: Credentials, C: Credentials) {
    const root = await humanToken(userId, A.id);
    const aAtApi = await exchange(A, { subject_token: root, resource: API, scope: 'files:read' });
    const toB = await exchange(A, { subject_token: root, audience: B.id, resource: API, scope: 'files:read' });
    const bAtApi = await exchange(B, { subject_token: toB, resource: API });
    const toC = await exchange(B, { subject_token: toB, audience: C.id, resource: API });
    const cAtApi = await exchange(C, { subject_token: toC, resource: API });
    return { root, aAtApi, toB, bAtApi, toC, cAtApi };
  }

  return { configFor, agent, exchange, refusedExchange, active, humanToken, chain };
}

export const jtiOf = (token: string) => decodeJwt(token).jti!;
