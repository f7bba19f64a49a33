// The HTTP edge on its own: the input rule as pure functions, and the error boundary in a real Koa app over real
// HTTP (faults are thrown by a route here; test/fault/ causes real ones).
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import Koa from 'koa';
import { edgeErrors, inputEdge, surfaceOf, type EdgeDependencies } from '../../src/http/edge.js';
import { checkAuthorization, checkJson, checkUrlEncoded, decodeComponent, InputRefusal } from '../../src/http/input-rules.js';
import { isDatabaseUnavailable, outageLog } from '../../src/http/outage.js';
import { requestContext } from '../../src/http/request-context.js';
import { createLogger } from '../../src/observability/logger.js';

const refusal = (work: () => void) => {
  try {
    work();
  } catch (error) {
    if (error instanceof InputRefusal) return error.rule;
    throw error;
  }
  return undefined;
};

describe('the input rule', () => {
  it.each([
    ['a=%00', 'nul'],
    ['a=b%00c', 'nul'],
    ['a=%FF', 'utf8'],
    ['a=%C0%AF', 'utf8'],
    ['a=%ED%A0%80', 'utf8'],
    ['%00=x', 'nul'],
    ['a=<9,000 characters>', 'length'],
  ])('refuses %s (%s)', (label, rule) => {
    const text = label.replace('<9,000 characters>', 'x'.repeat(9000));
    expect(refusal(() => checkUrlEncoded(text, 'query'))).toBe(rule);
  });

  it.each(['a=b&c=d', 'scope=openid+files%3Aread', 'name=%C3%A9t%C3%A9', 'x', 'a=%zz', ''])('accepts %s', (text) => {
    expect(refusal(() => checkUrlEncoded(text, 'query'))).toBeUndefined();
  });

  it('decodes + as a space and percent-escapes as UTF-8', () => {
    expect(decodeComponent('a+b%20%C3%A9', 'x')).toBe('a b é');
    // A `%` that starts no escape stays itself, next to escapes that decode.
    expect(decodeComponent('a%zz%C3%A9%', 'x')).toBe('a%zzé%');
  });

  it('refuses exactly the escaped byte sequences that are not UTF-8, like a fatal TextDecoder', () => {
    const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    const expected = (bytes: number[]) => {
      try {
        return fatal.decode(Uint8Array.from(bytes));
      } catch {
        return 'refused';
      }
    };
    const decoded = (text: string) => {
      try {
        return decodeComponent(text, 'x');
      } catch (error) {
        expect((error as InputRefusal).rule).toBe('utf8');
        return 'refused';
      }
    };
    const escaped = (bytes: number[]) => bytes.map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
    const named = [
      [0xf0, 0x9f, 0x98, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe0, 0x80, 0x80], [0xe2, 0x82], [0xed, 0x9f, 0xbf], [0xed, 0xa0, 0x80],
      [0xef, 0xbb, 0xbf, 0x61], [0xc2, 0x80], [0xc1, 0xbf], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80],
    ];
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const generated = Array.from({ length: 2000 }, () => Array.from({ length: 1 + Math.floor(random() * 6) }, () => (random() < 0.5 ? 0x80 + Math.floor(random() * 0x80) : Math.floor(random() * 0x80))));
    for (const bytes of [...named, ...generated]) {
      expect([bytes, decoded(escaped(bytes))]).toEqual([bytes, expected(bytes)]);
      // The same bytes beside a stray `%` take the byte-by-byte path, with the same verdict.
      const viaSlowPath = decoded(`${escaped(bytes)}%`);
      expect([bytes, viaSlowPath === 'refused' ? viaSlowPath : viaSlowPath.slice(0, -1)]).toEqual([bytes, expected(bytes)]);
    }
  });

  it('refuses NUL, lone surrogates and deep nesting anywhere in JSON, keys included', () => {
    expect(refusal(() => checkJson({ a: ['x', { b: 'y\u0000' }] }))).toBe('nul');
    expect(refusal(() => checkJson({ ['k\u0000']: 1 }))).toBe('nul');
    expect(refusal(() => checkJson(JSON.parse('{"a":"\\ud800"}')))).toBe('utf8');
    expect(refusal(() => checkJson(JSON.parse('['.repeat(40) + ']'.repeat(40))))).toBe('json');
    expect(refusal(() => checkJson({ a: 'emoji 😀', n: 1e308, t: true, z: null }))).toBeUndefined();
  });

  it('checks Basic credentials as RFC 6749 form-encoded UTF-8, and leaves other schemes alone', () => {
    const basic = (raw: string | Buffer) => `Basic ${Buffer.from(raw).toString('base64')}`;
    expect(refusal(() => checkAuthorization(basic('client%00:secret')))).toBe('nul');
    expect(refusal(() => checkAuthorization(basic(Buffer.from([0xff, 0x3a, 0x61]))))).toBe('utf8');
    expect(refusal(() => checkAuthorization('Basic !!!'))).toBe('credentials');
    expect(refusal(() => checkAuthorization(basic('client:s%C3%A9cret')))).toBeUndefined();
    expect(refusal(() => checkAuthorization('Bearer abc'))).toBeUndefined();
  });

  it('names the surface a path belongs to', () => {
    expect(['/admin/v1/users', '/events/poll', '/approvals/login', '/interaction/x', '/auth', '/token', '/x/token'].map((p) => surfaceOf(p, ''))).toEqual([
      'admin', 'events', 'pages', 'pages', 'pages', 'oauth', 'oauth',
    ]);
    expect(surfaceOf('/tenant/admin/v1/users', '/tenant')).toBe('admin');
  });
});

describe('outages', () => {
  it('recognises an unreachable database by Prisma code, socket code, PostgreSQL state or a wrapped cause', () => {
    expect(isDatabaseUnavailable({ code: 'P1001' })).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isDatabaseUnavailable({ code: '57P01' })).toBe(true);
    expect(isDatabaseUnavailable(new Error('wrapped', { cause: new Error('Connection terminated unexpectedly') }))).toBe(true);
    expect(isDatabaseUnavailable(new Error('unique constraint'))).toBe(false);
    expect(isDatabaseUnavailable({ code: 'P2002' })).toBe(false);
  });

  it('logs an outage once per interval, with the count of failures in between', () => {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)));
    let now = 0;
    const outages = outageLog(createLogger('info', stream), 10_000, () => now);
    for (let i = 0; i < 500; i += 1) {
      outages.report(new Error('Connection terminated'));
      now += 10; // 500 failures over 5 s
    }
    now = 12_000;
    outages.report(new Error('Connection terminated'));
    return new Promise<void>((resolve) => setImmediate(() => {
      expect(lines.map((l) => l.failures_since_last_report)).toEqual([0, 499]);
      resolve();
    }));
  });
});

describe('the error boundary, over real HTTP', () => {
  let server: http.Server;
  let base: string;
  const lines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)));
    const log = createLogger('info', stream);
    const deps: EdgeDependencies = {
      prefix: '',
      log,
      outages: outageLog(log),
      renderPage: (ctx, status, title) => {
        ctx.status = status;
        ctx.type = 'html';
        ctx.body = `<h1>${title}</h1>`;
      },
      auditRefusal: async () => {},
    };
    const app = new Koa();
    app.silent = true;
    app.use(requestContext(log));
    app.use(edgeErrors(deps));
    app.use(inputEdge(deps));
    app.use(async (ctx) => {
      if (ctx.path === '/token/boom') throw new TypeError('a bug');
      if (ctx.path === '/admin/v1/outage') throw Object.assign(new Error("Can't reach database server"), { code: 'P1001' });
      if (ctx.path === '/approvals/outage') throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
      ctx.body = { ok: true };
    });
    server = http.createServer(app.callback()).listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('answers a fault 500 in the surface shape, and the access log says 500', async () => {
    const response = await fetch(`${base}/token/boom`, { headers: { 'x-request-id': 'boom-request-1' } });
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: 'server_error', error_description: 'the server could not complete the request' });
    await new Promise((r) => setImmediate(r));
    expect(lines.find((l) => l.request_id === 'boom-request-1' && l.msg === 'request')).toMatchObject({ status: 500 });
  });

  it('answers a database outage 503 with Retry-After, in each surface shape', async () => {
    const admin = await fetch(`${base}/admin/v1/outage`);
    expect(admin.status).toBe(503);
    expect(admin.headers.get('retry-after')).toBe('2');
    expect(await admin.json()).toMatchObject({ error: 'service_unavailable', message: expect.any(String) });
    const page = await fetch(`${base}/approvals/outage`);
    expect(page.status).toBe(503);
    expect(await page.text()).toContain('Temporarily unavailable');
  });

  it('answers a body over the limit, sent chunked, 413 and still logs the request', async () => {
    const chunks = Array.from({ length: 20 }, () => Buffer.alloc(4096, 0x61));
    const response = await fetch(`${base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': 'chunked-request-1' },
      body: new ReadableStream({ pull(controller) { const next = chunks.shift(); if (next) controller.enqueue(next); else controller.close(); } }),
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: 'invalid_request' });
    await new Promise((r) => setImmediate(r));
    expect(lines.find((l) => l.request_id === 'chunked-request-1' && l.msg === 'request')).toMatchObject({ status: 413 });
  });
});
