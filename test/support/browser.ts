// Browsers for tests of the human-facing pages: headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core) for real end-to-end flows, and a cookie-keeping fetch client for precise HTTP-level checks
// (CSRF, throttling) where a browser would only get in the way.
import { createHash, randomBytes } from 'node:crypto';
import { chromium, type Browser } from 'playwright-core';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

type StoredCookie = { name: string; value: string; path: string };

/**
 * fetch with a cookie jar (name + path, sent to paths below the cookie's path: enough for one origin) and no
 * automatic redirects, so tests see every 303 of an OAuth flow.
 */
export class HttpBrowser {
  readonly jar = new Map<string, StoredCookie>();

  constructor(readonly origin: string) {}

  cookieHeader(path: string): string {
    return [...this.jar.values()]
      // RFC 6265 §5.1.4 path-match.
      .filter((c) => path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  async request(url: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
    const target = new URL(url, this.origin);
    const cookie = this.cookieHeader(target.pathname);
    const response = await fetch(target, { ...init, redirect: 'manual', headers: { ...(cookie ? { cookie } : {}), ...init.headers } });
    this.store(response, target.pathname);
    return response;
  }

  get(url: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.request(url, { headers });
  }

  post(url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });
  }

  /** Follows redirects within this origin; returns the last response and, if the flow left the origin, where to. */
  async follow(response: Response): Promise<{ response: Response; leftTo?: URL }> {
    let current = response;
    for (let hops = 0; hops < 10 && current.status >= 300 && current.status < 400; hops += 1) {
      const next = new URL(current.headers.get('location')!, this.origin);
      if (next.origin !== new URL(this.origin).origin) return { response: current, leftTo: next };
      current = await this.get(next.href);
    }
    return { response: current };
  }

  private store(response: Response, requestPath: string): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';').map((part) => part.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      let path = requestPath.replace(/\/[^/]*$/, '') || '/';
      let expired = value === '';
      for (const attribute of attributes) {
        const [key, attributeValue = ''] = attribute.split('=');
        if (key!.toLowerCase() === 'path') path = attributeValue;
        if (key!.toLowerCase() === 'max-age' && Number(attributeValue) <= 0) expired = true;
        if (key!.toLowerCase() === 'expires' && new Date(attributeValue).getTime() < Date.now()) expired = true;
      }
      const key = `${name}|${path}`;
      if (expired) this.jar.delete(key);
      else this.jar.set(key, { name, value, path });
    }
  }
}

/** A PKCE pair (RFC 7636 S256). */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** The CSRF token of the form posting to `action` on a rendered page. */
export function formToken(html: string, action: string): string {
  for (const match of html.matchAll(/<form[^>]*action="([^"]+)"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)">/g)) {
    if (match[1] === action) return match[2]!;
  }
  throw new Error(`no form posting to ${action} in:\n${html}`);
}
