// The framework's own ceiling: oidc-provider with default settings (in-memory adapter, generated development key)
// issuing client-credentials JWTs for one resource server. Run by bench/run.ts as a separate process.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? 0);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{ client_id: 'bench', client_secret: 'bench-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }],
  features: {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      getResourceServerInfo: () => ({ scope: 'files:read', accessTokenFormat: 'jwt', accessTokenTTL: 300 }),
    },
  },
});
createServer(provider.callback()).listen(port, '127.0.0.1');
