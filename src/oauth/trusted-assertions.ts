// Verifies JWTs from trusted outside issuers (admin API /trusted-issuers): agents' platform assertions (workload
// identity federation) and enterprise IdPs' ID-JAGs. Signatures, `typ`, `iss`, `aud`, expiry and not-before are
// jose's; which issuer is trusted for what, and the principal an assertion's subject maps to, are read from the
// database on every use (src/federation/federation-lookup-store.ts). Keys: an issuer's inline JWKS, or its jwks_uri
// through jose's remote key set (cached, refetched on an unknown `kid`, at most every 30 s) over the guarded outbound
// fetch (https only; loopback only under the development switch).
import { createLocalJWKSet, createRemoteJWKSet, customFetch, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { TrustedIssuerKeys } from '../federation/federation-lookup-store.js';
import { outboundFetch } from './outbound-fetch.js';

/** Asymmetric signatures only: an outside issuer never shares a secret with this server. */
export const ASSERTION_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
/** Seconds of clock difference tolerated between this server and an outside issuer. */
export const CLOCK_TOLERANCE = 30;

/** The JWT `typ` of an Identity Assertion JWT Authorization Grant (draft-ietf-oauth-identity-assertion-authz-grant). */
export const ID_JAG_TYP = 'oauth-id-jag+jwt';

export class AssertionError extends Error {
  override name = 'AssertionError';
}

/**
 * The unverified `iss` and `sub` of a compact JWT, to find its issuer, and its `typ` as media types compare (lower
 * case, without `application/`, RFC 8725 §3.11); undefined when it is no JWT.
 */
export function unverifiedIssuer(jwt: string): { iss: string; sub: string; typ: string | undefined } | undefined {
  try {
    const { iss, sub } = decodeJwt(jwt);
    const typ = decodeProtectedHeader(jwt).typ?.toLowerCase().replace(/^application\//, '');
    return typeof iss === 'string' && typeof sub === 'string' ? { iss, sub, typ } : undefined;
  } catch {
    return undefined;
  }
}

export function createTrustedAssertions(options: { allowLoopback: boolean }) {
  const fetch = outboundFetch({ allowLoopback: options.allowLoopback });
  const inline = new Map<string, { stamp: number; keys: JWTVerifyGetKey }>();
  const remote = new Map<string, JWTVerifyGetKey>();

  /** The key set of a trusted issuer; an inline JWKS is rebuilt when the issuer changed. */
  function keysFor(issuer: TrustedIssuerKeys): JWTVerifyGetKey {
    if (issuer.jwksUri) {
      let keys = remote.get(issuer.jwksUri);
      if (!keys) {
        keys = createRemoteJWKSet(new URL(issuer.jwksUri), {
          [customFetch]: fetch as never,
          timeoutDuration: 5_000,
          cooldownDuration: 30_000,
          cacheMaxAge: 10 * 60_000,
        });
        remote.set(issuer.jwksUri, keys);
      }
      return keys;
    }
    const stamp = issuer.updatedAt.getTime();
    const known = inline.get(issuer.id);
    if (known?.stamp === stamp) return known.keys;
    const keys = createLocalJWKSet((issuer.jwks ?? { keys: [] }) as Parameters<typeof createLocalJWKSet>[0]);
    inline.set(issuer.id, { stamp, keys });
    return keys;
  }

  return {
    /**
     * A verified assertion's claims: signed by one of the issuer's keys with an asymmetric algorithm, `iss` the
     * issuer, `aud` one of `audiences` (or exactly `exactAudience`), unexpired and valid now; `typ` when given.
     * Anything else is an AssertionError saying what failed (for the OAuth error's description).
     */
    async verify(
      jwt: string,
      issuer: TrustedIssuerKeys,
      expect: { audiences: string[]; exactAudience?: boolean; typ?: string; required: string[] },
    ): Promise<JWTPayload> {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(jwt, keysFor(issuer), {
          issuer: issuer.issuer,
          audience: expect.audiences,
          algorithms: ASSERTION_ALGORITHMS,
          clockTolerance: CLOCK_TOLERANCE,
          requiredClaims: ['exp', ...expect.required],
          ...(expect.typ ? { typ: expect.typ } : {}),
        }));
      } catch (error) {
        throw new AssertionError(describe(error));
      }
      // An ID-JAG names exactly one audience: this server (draft-ietf-oauth-identity-assertion-authz-grant, audience
      // injection).
      if (expect.exactAudience && ([] as unknown[]).concat(payload.aud ?? []).length !== 1) {
        throw new AssertionError('the assertion must name exactly one audience: this authorization server');
      }
      return payload;
    },
  };
}

export type TrustedAssertions = ReturnType<typeof createTrustedAssertions>;

/** What jose's error says, in words for a client (never the key material or the token). */
function describe(error: unknown): string {
  const code = (error as { code?: string }).code;
  const claim = (error as { claim?: string }).claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED': return 'the assertion has expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'aud') return 'the assertion is not addressed to this authorization server (aud)';
      if (claim === 'nbf') return 'the assertion is not valid yet (nbf)';
      if (claim === 'typ') return 'the assertion has the wrong type (typ)';
      return `the assertion's ${claim ?? 'claims'} did not validate`;
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return "the assertion is not signed by one of its issuer's keys";
    case 'ERR_JOSE_ALG_NOT_ALLOWED': return 'the assertion is signed with an algorithm this server does not accept (asymmetric only)';
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JOSE_GENERIC':
      return "the issuer's keys could not be fetched";
    default: return 'the assertion is not a valid signed JWT';
  }
}
