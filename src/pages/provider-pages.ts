// The pages oidc-provider renders itself, in our views: the logout confirmation and the signed-out page of
// RP-initiated logout (`{issuer}/session/end`), and its error page. The error page shows the OAuth error and its
// description (oidc-provider writes these for people, e.g. "client is invalid") and never a stack or internals.
import type { Middleware } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { InteractionPages } from '../oauth/provider.js';
import { renderErrorPage } from './render-page-error.js';
import type { PageRenderer } from './views.js';

type ProviderPages = Required<Pick<InteractionPages, 'logoutSource' | 'postLogoutSuccessSource' | 'renderError'>>;

const ERROR_TITLES: Record<string, string> = {
  invalid_request: 'The request is not valid',
  invalid_client: 'The application is not known',
  invalid_target: 'The requested resource is not known',
  invalid_scope: 'The requested access is not valid',
  unauthorized_client: 'The application may not do this',
  access_denied: 'Access was denied',
  server_error: 'Something went wrong',
};

export function providerPages(views: PageRenderer): ProviderPages {
  const clientName = (ctx: KoaContextWithOIDC) => ctx.oidc.client?.clientName ?? undefined;
  return {
    // `form` is oidc-provider's own markup: the form to its confirm endpoint with the session's xsrf secret. Our
    // buttons submit it (`form="op.logoutForm"`); `logout=yes` ends the whole session.
    async logoutSource(ctx, form) {
      const next = ctx.oidc.params?.post_logout_redirect_uri;
      views.render(ctx, 'logout', { title: 'Sign out', form, clientName: clientName(ctx) }, { formTargets: typeof next === 'string' ? [next] : [] });
    },

    async postLogoutSuccessSource(ctx) {
      views.render(ctx, 'logged-out', { title: 'Signed out', clientName: clientName(ctx) });
    },

    async renderError(ctx, out) {
      const title = ERROR_TITLES[out.error] ?? 'The request could not be completed';
      const detail = typeof out.error_description === 'string' ? out.error_description : 'Go back to the application and try again.';
      // oidc-provider has set the status for the error it caught.
      renderErrorPage(views, ctx, ctx.status >= 400 ? ctx.status : 400, title, detail);
    },
  };
}

/**
 * Without a session, `{issuer}/session/end` answers with oidc-provider's self-submitting form, whose inline script
 * it allows by adding its hash to an existing `script-src`. The app's default policy is set after the response, too
 * late for that, so the logout endpoints get a policy here first: scripts only by that hash, nothing else. (Our own
 * logout page replaces it with the pages' policy.)
 */
export function endSessionPolicy(prefix: string): Middleware {
  const paths = new Set([`${prefix}/session/end`, `${prefix}/session/end/confirm`]);
  return (ctx, next) => {
    if (paths.has(ctx.path)) {
      ctx.set('Content-Security-Policy', "default-src 'none'; script-src; style-src 'self'; frame-ancestors 'none'; base-uri 'none'");
    }
    return next();
  };
}
