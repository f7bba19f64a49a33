// Finds the record of a token presented to this server (a subject or actor token of an exchange): a JWT must carry
// one of our signatures for our issuer, an opaque token is known by its keyed hash. Revocation and expiry are read
// from the record, in the database, on every call: what was revoked through any process is refused here at once.
import { jwtVerify } from 'jose';
import { PolicyRefusal } from '../policy/rules.js';
import { isCompactJws, localJwks, rememberingVerifier, type PublicJwks } from '../keys/local-jwks.js';
import type { IssuedTokenRecord, IssuedTokenStore } from './issued-token-store.js';

export const TOKEN_TYPE = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  /** An Identity Assertion JWT Authorization Grant (draft-ietf-oauth-identity-assertion-authz-grant). */
  idJag: 'urn:ietf:params:oauth:token-type:id-jag',
} as const;

/** A presented token's record, as an exchange reads it (never revoked or expired: those are refused). */
export type PresentedToken = Omit<IssuedTokenRecord, 'kind' | 'revokedAt'>;

export type TokenLookup = {
  hashId: (id: string) => string;
  issuer: string;
  publicJwks: () => PublicJwks;
};

/**
 * The two halves of reading a presented token, for callers that fetch its record together with other facts
 * (src/tokens/exchange-facts-store.ts): `jtiOf` checks the token itself (type, our signature and issuer, or the keyed
 * hash of an opaque one) and names its record; `fromRecord` refuses a record that is missing, not an access token,
 * revoked or expired.
 */
export function createPresentedTokenReader(deps: TokenLookup) {
  const verify = rememberingVerifier(deps.publicJwks, { issuer: deps.issuer, typ: 'at+jwt' });
  return {
    async jtiOf(token: string, type: string, label: TokenLabel): Promise<string> {
      if (type !== TOKEN_TYPE.accessToken && type !== TOKEN_TYPE.jwt) {
        throw new PolicyRefusal('token_type', `${label}_type must be ${TOKEN_TYPE.accessToken} or ${TOKEN_TYPE.jwt}`);
      }
      if (isCompactJws(token)) {
        try {
          const payload = await verify(token);
          if (typeof payload.jti !== 'string') throw new Error('no jti');
          return payload.jti;
        } catch (error) {
          const expired = (error as { code?: string }).code === 'ERR_JWT_EXPIRED';
          throw new PolicyRefusal('token_invalid', expired ? `the ${label} has expired` : `the ${label} is not an access token issued by this server`);
        }
      }
      if (type === TOKEN_TYPE.jwt) throw new PolicyRefusal('token_invalid', `the ${label} is not a JWT`);
      return deps.hashId(token);
    },

    fromRecord(record: IssuedTokenRecord | undefined, label: TokenLabel, now = new Date()): PresentedToken {
      if (!record || record.kind !== 'access_token') {
        throw new PolicyRefusal('token_invalid', `the ${label} is not an access token issued by this server`);
      }
      if (record.revokedAt) throw new PolicyRefusal('token_invalid', `the ${label} has been revoked`);
      if (record.expiresAt.getTime() <= now.getTime()) throw new PolicyRefusal('token_invalid', `the ${label} has expired`);
      return {
        jti: record.jti,
        subject: record.subject,
        subjectKind: record.subjectKind,
        actorChain: record.actorChain,
        clientId: record.clientId,
        scopes: record.scopes,
        audience: record.audience,
        resource: record.resource,
        dpopJkt: record.dpopJkt,
        expiresAt: record.expiresAt,
      };
    },
  };
}

export type PresentedTokenReader = ReturnType<typeof createPresentedTokenReader>;

type TokenLabel = 'subject_token' | 'actor_token';

/**
 * A presented token's record by itself (an actor token; a subject token whose facts are read alone), through the
 * same reader (and so the same memory of verified JWTs) as the exchange's one-statement read.
 */
export function createTokenResolver(deps: {
  reader: PresentedTokenReader;
  /** The record by jti, read from the database on every call (concurrent lookups share a query). */
  findRecord: IssuedTokenStore['find'];
}) {
  const { reader } = deps;
  return async function resolve(token: string, type: string, label: TokenLabel, now = new Date()): Promise<PresentedToken> {
    const jti = await reader.jtiOf(token, type, label);
    return reader.fromRecord(await deps.findRecord(jti), label, now);
  };
}

export type TokenResolver = ReturnType<typeof createTokenResolver>;

/**
 * An ID token this server issued to `clientId` (its `aud`), unexpired, as the subject of an ID-JAG request: it names
 * the human and carries no scopes. ID tokens have no records (they are not bearer credentials for any resource); the
 * human's status is checked by the caller.
 */
export function createIdTokenResolver(deps: Pick<TokenLookup, 'issuer' | 'publicJwks'>) {
  const keys = localJwks(deps.publicJwks);
  return async function resolveIdToken(token: string, clientId: string): Promise<PresentedToken & { authTime?: number | undefined }> {
    try {
      const { payload } = await jwtVerify(token, keys(), { issuer: deps.issuer, audience: clientId, requiredClaims: ['sub', 'exp', 'iat'] });
      // An access token of ours is a JWT too, but typed at+jwt and without this client as its audience.
      return {
        jti: typeof payload.jti === 'string' ? payload.jti : `id_token:${payload.sub}:${payload.iat}`,
        subject: payload.sub!,
        subjectKind: 'human',
        actorChain: [],
        clientId,
        scopes: [],
        audience: null,
        resource: null,
        dpopJkt: null,
        expiresAt: new Date(payload.exp! * 1000),
        authTime: typeof payload.auth_time === 'number' ? payload.auth_time : undefined,
      };
    } catch (error) {
      const expired = (error as { code?: string }).code === 'ERR_JWT_EXPIRED';
      throw new PolicyRefusal('token_invalid', expired ? 'the subject_token (ID token) has expired' : 'the subject_token is not an ID token this server issued to this client');
    }
  };
}

export type IdTokenResolver = ReturnType<typeof createIdTokenResolver>;
