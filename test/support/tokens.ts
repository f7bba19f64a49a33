// Fixtures for delegation tests: a human's access token issued to a client, minted through oidc-provider's own
// AccessToken model (so it is signed, stored and recorded exactly like one from a real flow) without driving a
// browser through login and consent; the browser tests cover those flows end to end.
import type { RunningServer } from '../../src/server.js';

export async function mintHumanToken(
  server: Pick<RunningServer, 'provider' | 'stores'>,
  options: { userId: string; clientId: string; resource: string; scopes: string[]; lifetime?: number; jkt?: string },
): Promise<string> {
  const provider = server.provider.current;
  const client = await provider.Client.find(options.clientId);
  if (!client) throw new Error(`no client ${options.clientId}`);
  const resource = await server.stores.resources.findByIdentifier(options.resource);
  if (!resource) throw new Error(`no resource ${options.resource}`);
  const scope = options.scopes.join(' ');
  const token = new provider.AccessToken({
    accountId: options.userId,
    client,
    scope,
    gty: 'authorization_code',
    expiresIn: options.lifetime ?? resource.accessTokenTtl,
  } as unknown as ConstructorParameters<typeof provider.AccessToken>[0]);
  token.resourceServer = new provider.ResourceServer(resource.identifier, {
    audience: resource.identifier,
    scope,
    accessTokenTTL: options.lifetime ?? resource.accessTokenTtl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'ES256' } },
  });
  if (options.jkt) (token as unknown as { jkt: string }).jkt = options.jkt;
  return token.save();
}
