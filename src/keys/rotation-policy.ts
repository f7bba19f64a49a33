// How long keys stay in each state, and how often rotation may happen, so that no verifier is ever without the
// key it needs. The numbers depend on each other:
//
//   key poll interval (60 s)  <  JWKS max-age (300 s)  <=  minimum time a next key is published before it signs
//
// - A resource server caches the JWKS for up to JWKS_MAX_AGE_SECONDS. A next key published at least that long
//   has reached every cache before it signs its first token.
// - A server process that missed the NOTIFY still picks up the rotation at its next poll, well within that time,
//   so every process knows the next cookie key (as a verifier) before any process signs with it.
// - A retired signing key stays published for the longest token lifetime plus a margin: the margin covers a process
//   that keeps signing with it until its next poll, clock skew between hosts and the leeway verifiers apply to exp.
// - A retired cookie key verifies for the longest session plus the same margin.
import type { Config } from '../config.js';
import { MAX_ACCESS_TOKEN_TTL } from '../resources/resource-store.js';
import type { RotationPolicy } from './key-store.js';

/** The Cache-Control max-age for jwks_uri responses; also the minimum publication time of a next key. */
export const JWKS_MAX_AGE_SECONDS = 300;

/** How often each server compares its keys with the database when no NOTIFY arrived. */
export const DEFAULT_KEY_POLL_INTERVAL_SECONDS = 60;

export const RETENTION_MARGIN_SECONDS = 900;

export function rotationPolicy(config: Pick<Config, 'accessTokenTtl' | 'sessionTtl'>, options: { force?: boolean } = {}): RotationPolicy {
  return {
    // ID tokens and tokens without a resource live config.accessTokenTtl; resource servers' tokens at most 3600 s.
    signingRetention: Math.max(MAX_ACCESS_TOKEN_TTL, config.accessTokenTtl) + RETENTION_MARGIN_SECONDS,
    cookieRetention: config.sessionTtl + RETENTION_MARGIN_SECONDS,
    minNextAge: options.force ? 0 : JWKS_MAX_AGE_SECONDS,
  };
}
