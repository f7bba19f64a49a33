// Refusals and the challenges that answer them (RFC 6750 §3, RFC 9449 §7.1, RFC 9728 §5.1).

export type VerifyErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof';

/** A refusal with what the resource server should answer: status and `WWW-Authenticate` challenge. */
export class VerifyError extends Error {
  override name = 'VerifyError';
  constructor(
    readonly code: VerifyErrorCode,
    message: string,
    readonly status: 400 | 401 | 403,
    /** For insufficient_scope: the scopes the call needs. */
    readonly scope?: string,
    /** Whether the token was DPoP-bound (the challenge then uses the DPoP scheme). */
    readonly dpop = false,
  ) {
    super(message);
  }
}

const quote = (value: string) => `"${value.replace(/[\\"]/g, '\\$&')}"`;

/**
 * The `WWW-Authenticate` header for a refusal (RFC 6750 §3, RFC 9449 §7.1, RFC 9728 §5.1); without an error, the
 * challenge to a request that carried no token at all.
 */
export function challenge(options: { resourceMetadataUrl?: string | undefined }, error?: VerifyError): string {
  const parts: string[] = [];
  if (error && error.code !== 'invalid_request') parts.push(`error=${quote(error.code)}`, `error_description=${quote(error.message)}`);
  if (error?.scope) parts.push(`scope=${quote(error.scope)}`);
  if (options.resourceMetadataUrl) parts.push(`resource_metadata=${quote(options.resourceMetadataUrl)}`);
  const scheme = error?.dpop || error?.code === 'invalid_dpop_proof' ? 'DPoP' : 'Bearer';
  return parts.length ? `${scheme} ${parts.join(', ')}` : scheme;
}

