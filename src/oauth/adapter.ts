// oidc-provider's storage on PostgreSQL: every model it persists (Grant, Session, AuthorizationCode, RefreshToken,
// Interaction, ...) is a row of `oidc_payloads` keyed by (model, id).
//
// Guarantees the provider relies on, and this project adds:
// - `find` never returns an expired row (expiry is checked in the query, not left to the sweeper);
// - `consume` is one conditional UPDATE: of two concurrent redemptions of one code or refresh token exactly one
//   wins, the other gets `invalid_grant` (oidc-provider itself only checks `consumed` before consuming);
// - `revokeByGrantId` is one DELETE per model;
// - rows keyed by a bearer secret (token values, codes, session ids) are stored under the keyed hash of the key, so
//   the table never holds a usable token;
// - clients are not rows here: `Client` lookups read the client registry (src/clients/).
import { errors, type Adapter, type AdapterPayload, type ClientMetadata } from 'oidc-provider';
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';

/** Models whose id is a secret that a client or browser presents. */
const BEARER = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'ClientCredentials', 'DeviceCode', 'BackchannelAuthenticationRequest',
  'Session', 'InitialAccessToken', 'RegistrationAccessToken',
]);

/** Models whose consumption is a one-time redemption; a lost race is the client's error, not the server's. */
const REDEEMABLE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

export type AdapterFactory = (model: string) => Adapter;

export type AdapterOptions = {
  /** Keyed hash for bearer ids (HMAC-SHA-256 under a server key). */
  hashId: (id: string) => string;
  clients: { findMetadata(clientId: string): Promise<ClientMetadata | undefined> };
  /**
   * Stores an issued token together with its record and audit event (src/tokens/token-recorder.ts), given the stored
   * (hashed) id; answers undefined for payloads that are not issued tokens.
   */
  storeIssued?: (model: string, storedId: string, payload: AdapterPayload, expiresIn: number | undefined) => Promise<unknown> | undefined;
  /**
   * Called before a payload of an issued token is removed ahead of its expiry (by id, or all of a grant): the
   * revocation service marks the records revoked, follows derived tokens and tells resource servers.
   */
  /** The lookup of a payload by model and stored id (src/oauth/payload-store.ts); else a Prisma query. */
  findPayload?: (model: string, storedId: string) => Promise<{ payload: unknown; consumedAt: Date | null } | undefined>;
  onRemove?: {
    byId(model: string, id: string, storedId: string): Promise<unknown>;
    byGrant(model: string, grantId: string): Promise<unknown>;
  };
};

export function createAdapterFactory(prisma: PrismaClient, options: AdapterOptions): AdapterFactory {
  const { hashId } = options;
  const clientAdapter = readOnlyClientAdapter(options.clients);

  class PrismaAdapter implements Adapter {
    private readonly key: (id: string) => string;

    constructor(private readonly model: string) {
      this.key = BEARER.has(model) ? hashId : (id) => id;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const key = this.key(id);
      const issued = options.storeIssued?.(this.model, key, payload, expiresIn);
      await (issued ?? upsertPayload(prisma, this.model, key, payload, expiresIn));
    }

    async find(id: string) {
      if (!options.findPayload) return this.findOne({ model: this.model, id: this.key(id) });
      return asPayload(await options.findPayload(this.model, this.key(id)));
    }

    findByUserCode(userCode: string) {
      return this.findOne({ model: this.model, userCode });
    }

    findByUid(uid: string) {
      return this.findOne({ model: this.model, uid });
    }

    async consume(id: string): Promise<void> {
      const { count } = await prisma.oidcPayload.updateMany({
        where: { model: this.model, id: this.key(id), consumedAt: null },
        data: { consumedAt: new Date() },
      });
      if (count === 0 && REDEEMABLE.has(this.model)) {
        throw new errors.InvalidGrant(`${this.model} already consumed`);
      }
    }

    async destroy(id: string): Promise<void> {
      const key = this.key(id);
      // Records first: if that fails nothing is removed, and the token stays valid everywhere, consistently.
      await options.onRemove?.byId(this.model, id, key);
      await prisma.oidcPayload.deleteMany({ where: { model: this.model, id: key } });
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await options.onRemove?.byGrant(this.model, grantId);
      await prisma.oidcPayload.deleteMany({ where: { model: this.model, grantId } });
    }

    private async findOne(where: Prisma.OidcPayloadWhereInput): Promise<AdapterPayload | undefined> {
      const row = await prisma.oidcPayload.findFirst({
        where: { ...where, OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }] },
        select: { payload: true, consumedAt: true },
      });
      return asPayload(row ?? undefined);
    }
  }

  // oidc-provider calls a non-constructable factory as a function, once per model.
  return (model: string): Adapter => (model === 'Client' ? clientAdapter : new PrismaAdapter(model));
}

/** A stored row as oidc-provider reads it: a consumed row says when. */
function asPayload(row: { payload: unknown; consumedAt: Date | null } | undefined): AdapterPayload | undefined {
  if (!row) return undefined;
  const payload = row.payload as AdapterPayload;
  return row.consumedAt ? { ...payload, consumed: Math.floor(row.consumedAt.getTime() / 1000) } : payload;
}

/** The write that stores one payload under an already hashed id. */
export function upsertPayload(prisma: PrismaClient, model: string, storedId: string, payload: AdapterPayload, expiresIn?: number) {
  const columns = {
    payload: payload as Prisma.InputJsonValue,
    grantId: typeof payload.grantId === 'string' ? payload.grantId : null,
    userCode: typeof payload.userCode === 'string' ? payload.userCode : null,
    uid: typeof payload.uid === 'string' ? payload.uid : null,
    expiresAt: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
  };
  return prisma.oidcPayload.upsert({
    where: { model_id: { model, id: storedId } },
    create: { model, id: storedId, ...columns },
    update: columns,
    select: { id: true },
  });
}

/** Clients are registered through the CLI and the admin API, never by oidc-provider itself. */
function readOnlyClientAdapter(clients: AdapterOptions['clients']): Adapter {
  const refuse = async () => {
    throw new Error('clients are managed through the client registry, not oidc-provider');
  };
  return {
    find: async (id) => clients.findMetadata(id),
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
    upsert: refuse,
    consume: refuse,
    destroy: refuse,
    revokeByGrantId: async () => {},
  };
}

/** Deletes rows that expired more than `graceSeconds` ago; returns how many. Safe to run from every process. */
export async function sweepExpiredPayloads(prisma: PrismaClient, graceSeconds = 60): Promise<number> {
  const { count } = await prisma.oidcPayload.deleteMany({
    where: { expiresAt: { lt: new Date(Date.now() - graceSeconds * 1000) } },
  });
  return count;
}
