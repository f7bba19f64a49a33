// oidc-provider (pinned to 9.13.3) has no exports map; custom grants do not get the helpers built-in grants get
// (panva/node-oidc-provider #738), so token exchange imports its DPoP proof validation from the package directly
// rather than re-implementing RFC 9449 checks. Re-check these signatures when upgrading oidc-provider.
declare module 'oidc-provider/lib/helpers/validate_dpop.js' {
  import type Provider from 'oidc-provider';
  import type { KoaContextWithOIDC } from 'oidc-provider';

  export type DpopProof = { thumbprint: string; jti: string; iat: number };

  /** Validates the request's DPoP proof (htm, htu, iat, signature, ath when given); undefined when none is sent. */
  export default function validateDpop(provider: Provider, ctx: KoaContextWithOIDC, accessToken?: string): Promise<DpopProof | undefined>;

  /** Refuses a proof whose jti was seen before (ReplayDetection model). */
  export function checkDpopReplay(provider: Provider, ctx: KoaContextWithOIDC, dPoP: DpopProof, clientId: string, ErrorClass?: unknown): Promise<void>;
}
