// Finds the record of a token presented to this server (a subject or actor token of an exchange): a JWT must carry
// one of our signatures for our issuer, an opaque token is known by its keyed hash. Revocation and expiry are read
// from the record, in the database, on every call: what was revoked through any process is refused here at once.
import { jwtVerify } from 'jose';
import { PolicyRefusal } from '../policy/rules.js';
import { localJwks, type PublicJwks } from '../keys/local-jwks.js';
import type { IssuedTokenRecord, IssuedTokenStore } from './issued-token-store.js';

export const TOKEN_TYPE = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
} as const;

/** A presented token's record, as an exchange reads it (never revoked or expired: those are refused). */
export type PresentedToken = Omit<IssuedTokenRecord, 'kind' | 'revokedAt'>;

export type TokenLookup = {
  /** The record by jti, read from the database on every call (concurrent lookups share a query). */
  findRecord: IssuedTokenStore['find'];
  hashId: (id: string) => string;
  issuer: string;
  publicJwks: () => PublicJwks;
};

export function createTokenResolver(deps: TokenLookup) {
  const keys = localJwks(deps.publicJwks);

  return async function resolve(token: string, type: string, label: 'subject_token' | 'actor_token', now = new Date()): Promise<PresentedToken> {
    if (type !== TOKEN_TYPE.accessToken && type !== TOKEN_TYPE.jwt) {
      throw new PolicyRefusal('token_type', `${label}_type must be ${TOKEN_TYPE.accessToken} or ${TOKEN_TYPE.jwt}`);
    }
    let jti: string;
    if (token.split('.').length === 3) {
      try {
        const { payload } = await jwtVerify(token, keys(), { issuer: deps.issuer, typ: 'at+jwt' });
        if (typeof payload.jti !== 'string') throw new Error('no jti');
        jti = payload.jti;
      } catch (error) {
        const expired = (error as { code?: string }).code === 'ERR_JWT_EXPIRED';
        throw new PolicyRefusal('token_invalid', expired ? `the ${label} has expired` : `the ${label} is not an access token issued by this server`);
      }
    } else if (type === TOKEN_TYPE.jwt) {
      throw new PolicyRefusal('token_invalid', `the ${label} is not a JWT`);
    } else {
      jti = deps.hashId(token);
    }

    const record = await deps.findRecord(jti);
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
  };
}

export type TokenResolver = ReturnType<typeof createTokenResolver>;
