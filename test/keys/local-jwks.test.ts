// The remembering verifier of this server's own JWTs: a token it verified is answered again without another ECDSA
// verification only while it is unexpired and the key set is the one it was verified against; failures are never
// remembered. Real keys, real jose signatures.
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { rememberingVerifier, type PublicJwks } from '../../src/keys/local-jwks.js';

const ISSUER = 'https://as.example.test';

async function key(kid: string): Promise<{ privateKey: Parameters<SignJWT["sign"]>[0]; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

const token = (signer: { privateKey: Parameters<SignJWT["sign"]>[0]; jwk: JWK }, exp: number, claims: Record<string, unknown> = {}) =>
  new SignJWT({ jti: `jti-${Math.random()}`, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: signer.jwk.kid!, typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(signer.privateKey);

it('answers a remembered token while it is unexpired, and refuses it once expired', async () => {
  const signer = await key('k1');
  const jwks: PublicJwks = { keys: [signer.jwk] };
  const verify = rememberingVerifier(() => jwks, { issuer: ISSUER, typ: 'at+jwt' });
  const soon = Math.floor(Date.now() / 1000) + 2;
  const jwt = await token(signer, soon);
  const first = await verify(jwt);
  expect(await verify(jwt)).toBe(first);
  await new Promise((resolve) => setTimeout(resolve, (soon + 1) * 1000 - Date.now()));
  await expect(verify(jwt)).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
});

it('forgets what it verified when the key set changes: a token of a retired key is refused', async () => {
  const [old, next] = await Promise.all([key('old'), key('next')]);
  let jwks: PublicJwks = { keys: [old.jwk, next.jwk] };
  const verify = rememberingVerifier(() => jwks, { issuer: ISSUER, typ: 'at+jwt' });
  const jwt = await token(old, Math.floor(Date.now() / 1000) + 300);
  await expect(verify(jwt)).resolves.toMatchObject({ iss: ISSUER });
  jwks = { keys: [next.jwk] };
  await expect(verify(jwt)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
  await expect(verify(await token(next, Math.floor(Date.now() / 1000) + 300))).resolves.toMatchObject({ iss: ISSUER });
});

it('never remembers a failure, nor lets a tampered copy of a remembered token through', async () => {
  const signer = await key('k1');
  const stranger = await key('k1');
  const verify = rememberingVerifier(() => ({ keys: [signer.jwk] }), { issuer: ISSUER, typ: 'at+jwt' });
  const forged = await token(stranger, Math.floor(Date.now() / 1000) + 300);
  await expect(verify(forged)).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  await expect(verify(forged)).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  const genuine = await token(signer, Math.floor(Date.now() / 1000) + 300, { scope: 'files:read' });
  await verify(genuine);
  const [header, payload, signature] = genuine.split('.');
  const widened = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), scope: 'files:write' })).toString('base64url');
  await expect(verify(`${header}.${widened}.${signature}`)).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
});

it('remembers at most its limit, forgetting the oldest first, and still verifies the forgotten', async () => {
  const signer = await key('k1');
  // The key set is one object while it stands (as the key ring publishes it): a new object is a new key set.
  const jwks: PublicJwks = { keys: [signer.jwk] };
  const verify = rememberingVerifier(() => jwks, { issuer: ISSUER, typ: 'at+jwt' }, 2);
  const exp = Math.floor(Date.now() / 1000) + 300;
  const [a, b, c] = await Promise.all([token(signer, exp), token(signer, exp), token(signer, exp)]);
  const first = await verify(a);
  await verify(b);
  expect(await verify(a)).toBe(first);
  await verify(c);
  // `a` was the oldest entry: verified again, a new payload object, the same claims.
  const again = await verify(a);
  expect(again).not.toBe(first);
  expect(again).toEqual(first);
});
