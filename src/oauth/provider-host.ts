// Holds the oidc-provider instance that serves requests and lets it be replaced while the server runs.
// oidc-provider fixes its keys at construction, so picking up rotated signing or cookie keys means building a new
// instance and swapping it in; requests already inside the old one finish there.
import type { Middleware } from 'koa';
import mount from 'koa-mount';
import type Provider from 'oidc-provider';

export class ProviderHost {
  #provider: Provider;
  #middleware: Middleware;

  constructor(
    provider: Provider,
    private readonly prefix: string,
  ) {
    this.#provider = provider;
    this.#middleware = this.#mount(provider);
  }

  get current(): Provider {
    return this.#provider;
  }

  replace(provider: Provider): void {
    this.#provider = provider;
    this.#middleware = this.#mount(provider);
  }

  /** Koa middleware that always dispatches to the current provider. */
  middleware(): Middleware {
    return (ctx, next) => this.#middleware(ctx, next);
  }

  #mount(provider: Provider): Middleware {
    return this.prefix ? mount(this.prefix, provider) : mount(provider);
  }
}
