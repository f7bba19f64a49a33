// Server-rendered HTML for the human-facing pages: eta templates from `views/` (auto-escaping every `<%= %>`), sent
// with the headers every page carries: no caching (pages hold CSRF tokens and personal data), and a strict content
// security policy (no scripts at all, our own stylesheet only, forms only to ourselves and to where the flow goes
// next, never framed).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { Context } from 'koa';

export type PageRenderer = {
  /**
   * Renders `views/<template>.eta` as the response. `formTargets` are the origins (besides our own) that a form on
   * the page may end up at: a form submission's redirects are checked against `form-action` too, and the last
   * redirect of a sign-in goes to the client's redirect URI.
   */
  render(ctx: Context, template: string, data: Record<string, unknown>, options?: { status?: number; formTargets?: string[] }): void;
};

export type ViewDefaults = {
  /** URL path of the stylesheet. */
  stylesheet: string;
};

/** `views/` at the project root, whether this file runs from src/ (tests) or dist/src/ (the build). */
export function viewsDirectory(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return path.join(dir, 'views');
}

export function createPageRenderer(defaults: ViewDefaults, directory = viewsDirectory()): PageRenderer {
  const eta = new Eta({ views: directory, cache: true, autoEscape: true });
  return {
    render(ctx, template, data, options = {}) {
      const html = eta.render(`./${template}`, { ...defaults, ...data });
      setPageHeaders(ctx, options.formTargets ?? []);
      ctx.status = options.status ?? 200;
      ctx.type = 'html';
      ctx.body = html;
    },
  };
}

export function setPageHeaders(ctx: Context, formTargets: string[]): void {
  const formAction = ["'self'", ...new Set(formTargets.map(originOf).filter((o): o is string => o !== undefined))].join(' ');
  ctx.set('Content-Security-Policy', `default-src 'none'; style-src 'self'; img-src 'self'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`);
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
}

const UNSAFE_SCHEMES = new Set(['javascript:', 'data:', 'blob:', 'file:', 'filesystem:']);

/**
 * A URL as a CSP source: the origin of an http(s) URL, the scheme of a native app's private-use redirect URI
 * (`com.example.app:`), nothing for anything else.
 */
function originOf(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol === 'https:' || parsed.protocol === 'http:') return parsed.origin;
  return /^[a-z][a-z0-9+.-]*:$/.test(parsed.protocol) && !UNSAFE_SCHEMES.has(parsed.protocol) ? parsed.protocol : undefined;
}
