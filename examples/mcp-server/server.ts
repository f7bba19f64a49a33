// An MCP server (the official TypeScript SDK, Streamable HTTP, stateless) protected by agentauth through
// @agentauth/verify: every request carries an agentauth access token for this resource; the server publishes its
// RFC 9728 protected resource metadata so MCP clients find the authorization server by themselves, and a tool that
// needs more than the token holds answers 403 insufficient_scope naming the scope (step-up).
//
//   AGENTAUTH_ISSUER=http://localhost:3000 MCP_PUBLIC_URL=http://localhost:8787 node dist/examples/mcp-server/server.js
//
// Register the resource first (its identifier is `${MCP_PUBLIC_URL}/mcp`), e.g. with the admin API:
//   POST /admin/v1/resources {"identifier":"http://localhost:8787/mcp","name":"Example MCP server",
//     "scopes":[{"name":"mcp:tools","description":"Use the example tools"},
//               {"name":"notes:delete","description":"Delete your notes","requires_approval":true}]}
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import express from 'express';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createVerifier, protectedResourceMetadata, VerifyError, challenge, type VerifiedAccess } from '@agentauth/verify';
import { z } from 'zod';

/** Scopes every call needs, and what individual tools need on top. */
export const BASE_SCOPE = 'mcp:tools';
export const TOOL_SCOPES: Record<string, string[]> = { delete_note: ['notes:delete'] };

export type ExampleOptions = {
  issuer: string;
  /** Where clients reach this server (its origin); the MCP endpoint is `${publicUrl}/mcp`. */
  publicUrl: string;
  port?: number;
  host?: string;
};

/** The MCP tools, told who acts (a human through an agent) by the verified token. */
function mcpServerFor(access: VerifiedAccess): McpServer {
  const server = new McpServer({ name: 'agentauth-example', version: '1.0.0' });
  server.registerTool('whoami', { description: 'Who this call acts for, and through which agents' }, async () => ({
    content: [{ type: 'text', text: JSON.stringify({ human: access.human, agents: access.agents, scopes: access.scopes }) }],
  }));
  server.registerTool(
    'delete_note',
    { description: 'Delete a note (needs notes:delete: a fresh human approval)', inputSchema: { id: z.string() } },
    async ({ id }) => ({ content: [{ type: 'text', text: `deleted ${id} for ${access.human}` }] }),
  );
  return server;
}

/** The scopes one JSON-RPC request needs: the base scope, plus the tool's own for tools/call. */
export function scopesFor(message: unknown): string[] {
  const call = message as { method?: unknown; params?: { name?: unknown } } | undefined;
  const tool = call?.method === 'tools/call' && typeof call.params?.name === 'string' ? call.params.name : undefined;
  return [BASE_SCOPE, ...(tool ? (TOOL_SCOPES[tool] ?? []) : [])];
}

export async function startExampleServer(options: ExampleOptions): Promise<{ url: string; close(): Promise<void> }> {
  const publicUrl = options.publicUrl.replace(/\/$/, '');
  const resource = `${publicUrl}/mcp`;
  const metadataUrl = `${publicUrl}/.well-known/oauth-protected-resource/mcp`;
  const verifier = createVerifier({ issuer: options.issuer, audience: resource, resourceMetadataUrl: metadataUrl });

  const app = express();
  // RFC 9728 §3.1: the metadata of resource https://host/mcp lives at /.well-known/oauth-protected-resource/mcp.
  app.get('/.well-known/oauth-protected-resource/mcp', (_req, res) => {
    res.set('Access-Control-Allow-Origin', '*').json(protectedResourceMetadata(verifier, { scopes_supported: [BASE_SCOPE], resource_name: 'agentauth example MCP server' }));
  });
  app.post('/mcp', express.json({ limit: '1mb' }), async (req, res) => {
    const messages = ([] as unknown[]).concat(req.body);
    const needed = [...new Set(messages.flatMap(scopesFor))];
    let access: VerifiedAccess;
    try {
      access = await verifier.verify(
        { method: req.method, url: `${publicUrl}${req.originalUrl}`, authorization: req.headers.authorization, dpop: req.headers.dpop as string | undefined },
        { scopes: needed },
      );
    } catch (error) {
      if (!(error instanceof VerifyError)) throw error;
      res.set('WWW-Authenticate', challenge(verifier.options, error)).status(error.status).json({ error: error.code, error_description: error.message });
      return;
    }
    // Stateless: one server and transport per request, as the SDK's stateless example does.
    const server = mcpServerFor(access);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  app.all('/mcp', (_req, res) => {
    res.status(405).set('Allow', 'POST').json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
  });

  const listener = http.createServer(app);
  await new Promise<void>((resolve) => listener.listen(options.port ?? 8787, options.host ?? '127.0.0.1', resolve));
  const { port } = listener.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}/mcp`,
    close: () =>
      new Promise((resolve) => {
        listener.closeAllConnections();
        listener.close(() => resolve());
      }),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const issuer = process.env.AGENTAUTH_ISSUER ?? 'http://localhost:3000';
  const publicUrl = process.env.MCP_PUBLIC_URL ?? 'http://localhost:8787';
  const running = await startExampleServer({ issuer, publicUrl, port: Number(new URL(publicUrl).port || 8787) });
  console.log(`MCP server on ${running.url}, protected by ${issuer}`);
}
