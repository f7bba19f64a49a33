// How this server names a CIBA request outside the protocol (ciba_requests.id, /approvals paths, webhooks): the keyed
// hash of its auth_req_id, never the auth_req_id itself (a bearer value).
import { parseKek } from '../../src/keys/kek.js';
import { createSecretHasher } from '../../src/secrets/secret-hasher.js';

export function storedRequestId(server: { config: { kek?: string | undefined } }, authReqId: string): string {
  return createSecretHasher(parseKek(server.config.kek!)).hash(authReqId);
}
