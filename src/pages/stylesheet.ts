// The pages' one stylesheet (views/pages.css), served from our own origin because the pages' policy allows styles
// from 'self' only (no inline styles). Its URL carries a digest of its content, so it can be cached for long.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Middleware } from 'koa';
import { onlyFor } from '../http/paths.js';

export type Stylesheet = { url: string; route: Middleware };

export function stylesheet(prefix: string, viewsDirectory: string): Stylesheet {
  const css = readFileSync(path.join(viewsDirectory, 'pages.css'));
  const digest = createHash('sha256').update(css).digest('base64url').slice(0, 12);
  const routePath = `${prefix}/assets/pages.css`;
  return {
    url: `${routePath}?v=${digest}`,
    route: onlyFor((ctx) => ctx.path === routePath && (ctx.method === 'GET' || ctx.method === 'HEAD'), (ctx) => {
      ctx.set('Cache-Control', 'public, max-age=86400');
      ctx.type = 'text/css; charset=utf-8';
      ctx.body = css;
    }),
  };
}
