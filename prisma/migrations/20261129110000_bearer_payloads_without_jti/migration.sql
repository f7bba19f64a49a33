-- Payloads of bearer models are stored without `jti`: for these models the jti IS the bearer value (the opaque
-- access token, refresh token, authorization code, session cookie value, auth_req_id), and the row id is already its
-- keyed hash. The adapter puts the presented id back on lookup (src/oauth/adapter.ts). ciba_requests ids are
-- re-keyed by the server at start (src/approvals/ciba-request-ids.ts): SQL cannot compute the keyed hash.
UPDATE "oidc_payloads"
SET "payload" = "payload" - 'jti'
WHERE "model" IN ('AccessToken', 'AuthorizationCode', 'RefreshToken', 'ClientCredentials', 'DeviceCode',
                  'BackchannelAuthenticationRequest', 'Session', 'InitialAccessToken', 'RegistrationAccessToken')
  AND "payload" ? 'jti';
