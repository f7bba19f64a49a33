// The human-facing pages (login, consent, logout, errors): what oidc-provider's interactions are sent to, and the
// routes that serve them. Everything they need is passed in from the composition root.
import type { Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { PrismaClient } from '../db/client.js';
import { createLoginThrottle } from '../humans/login-throttle.js';
import type { UserStore } from '../humans/user-store.js';
import type { InteractionPages } from '../oauth/provider.js';
import type { ResourceStore } from '../resources/resource-store.js';
import { createCsrfGuard, deriveCsrfKey } from './csrf.js';
import { interactionRoutes } from './interactions.js';
import { createLogin } from './login.js';
import { endSessionPolicy, providerPages } from './provider-pages.js';
import { stylesheet } from './stylesheet.js';
import { createPageRenderer, viewsDirectory } from './views.js';

export type Pages = { interactions: InteractionPages; routes: Middleware[] };

export type PagesDependencies = {
  /** The issuer's path ('' when the issuer is an origin): every page lives under it. */
  prefix: string;
  /** The provider serving requests now (it is replaced when keys rotate, and built after the pages). */
  provider: () => Provider;
  users: UserStore;
  resources: ResourceStore;
  prisma: PrismaClient;
  /** The key-encryption key: the CSRF key is derived from it. */
  kek: Buffer;
};

export function createPages(deps: PagesDependencies): Pages {
  const directory = viewsDirectory();
  const css = stylesheet(deps.prefix, directory);
  const views = createPageRenderer({ stylesheet: css.url }, directory);
  const csrf = createCsrfGuard(deriveCsrfKey(deps.kek));
  const attemptLogin = createLogin({ prisma: deps.prisma, users: deps.users, throttle: createLoginThrottle(deps.prisma) });

  return {
    interactions: {
      url: (_ctx, interaction) => `${deps.prefix}/interaction/${interaction.uid}`,
      ...providerPages(views),
    },
    routes: [
      css.route,
      endSessionPolicy(deps.prefix),
      interactionRoutes({ prefix: deps.prefix, provider: deps.provider, resources: deps.resources, prisma: deps.prisma, csrf, views, attemptLogin }),
    ],
  };
}
