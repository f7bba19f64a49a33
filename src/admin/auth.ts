// Who may call the admin API: `Authorization: Bearer <admin key>` with a live key. Role `admin` reads and writes;
// role `auditor` reads only (GET). Missing or unknown keys get 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3);
// an auditor attempting a write gets 403.
import type { Context } from 'koa';
import type { AdminKey, AdminKeyStore } from './admin-keys.js';
import { AdminHttpError } from './http.js';
import type { Method } from './route.js';

const BEARER = /^Bearer +([\x21-\x7E]+) *$/i;

export async function authenticateAdmin(ctx: Context, keys: AdminKeyStore): Promise<AdminKey> {
  const header = ctx.get('authorization');
  if (header === '') throw new AdminHttpError(401, 'unauthorized', 'send an admin key: Authorization: Bearer <admin key>');
  const presented = BEARER.exec(header)?.[1];
  const key = presented === undefined ? undefined : await keys.authenticate(presented);
  if (!key) {
    // One answer for malformed, unknown and revoked keys: which of them it was is of use only to someone guessing.
    ctx.set('WWW-Authenticate', 'Bearer realm="agentauth-admin", error="invalid_token"');
    throw new AdminHttpError(401, 'unauthorized', 'the admin key is not valid');
  }
  return key;
}

/** Auditors read; only admins write. */
export function authorize(key: AdminKey, method: Method, readOnly = false): void {
  if (method !== 'GET' && !readOnly && key.role !== 'admin') {
    throw new AdminHttpError(403, 'forbidden', `an ${key.role} key may only read`);
  }
}
