// The human-facing pages (login, consent, logout): what oidc-provider's interactions are sent to.
import type { Middleware } from 'koa';
import type { InteractionPages } from '../oauth/provider.js';

export type Pages = { interactions: InteractionPages; routes: Middleware[] };

export function createPages(deps: { prefix: string }): Pages {
  return {
    interactions: { url: (_ctx, interaction) => `${deps.prefix}/interaction/${interaction.uid}` },
    routes: [],
  };
}
