// oidc-provider's storage on PostgreSQL: every model it persists (Grant, Session, AuthorizationCode, RefreshToken,
// Interaction, ...) is a row of `oidc_payloads` keyed by (model, id).
//
// Guarantees the provider relies on, and this project adds:
// - `find` never returns an expired row (expiry is checked in the query, not left to the sweeper);
// - `consume` is one conditional UPDATE: of two concurrent redemptions of one code or refresh token exactly one
//   wins, the other gets `invalid_grant` (oidc-provider itself only checks `consumed` before consuming);
// - `revokeByGrantId` is one DELETE per model;
// - rows keyed by a bearer secret (token values, codes, session ids, auth_req_ids) are stored under the keyed hash of
//   the key, and their payload is stored without `jti` (which is that secret): the table never holds a usable token.
//   `find(id)` puts the presented id back; code of ours that knows only the stored hash (the CIBA answer on
//   /approvals) reaches the row through `storedReference`, a handle no client can present;
// - clients are not rows here: `Client` lookups read the client registry (src/clients/).
import { randomBytes } from 'node:crypto';
import { errors, type Adapter, type AdapterPayload, type ClientMetadata } from 'oidc-provider';
import type { PrismaClient } from '../db/client.js';
import { writerFor } from '../db/transaction.js';
import type { Prisma } from '../../generated/prisma/client.js';

/** Models whose id is a secret that a client or browser presents. */
const BEARER = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'ClientCredentials', 'DeviceCode', 'BackchannelAuthenticationRequest',
  'Session', 'InitialAccessToken', 'RegistrationAccessToken',
]);

/** Models whose consumption is a one-time redemption; a lost race is the client's error, not the server's. */
const REDEEMABLE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

export type AdapterFactory = ((model: string) => Adapter) & {
  /**
   * An id for oidc-provider's `find` that names a bearer row by its stored (hashed) id: for code of ours that holds
   * only the hash. It carries a random per-process tag, so no client can present one.
   */
  storedReference(storedId: string): string;
};

export type AdapterOptions = {
  /** Keyed hash for bearer ids (HMAC-SHA-256 under a server key). */
  hashId: (id: string) => string;
  clients: { findMetadata(clientId: string): Promise<ClientMetadata | undefined> };
  /**
   * Clients that arrive by themselves (src/oauth/dynamic-registration.ts): `find` answers their current metadata
   * (undefined for an https client_id, which oidc-provider then resolves as a Client ID Metadata Document), and
   * `register` stores a Dynamic Client Registration.
   */
  dynamicClients?: {
    find(clientId: string): Promise<ClientMetadata | undefined>;
    register?(clientId: string, metadata: ClientMetadata): Promise<void>;
  };
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
  const clientAdapter = clientRegistryAdapter(options.clients, options.dynamicClients);
  const referenceTag = `stored-${randomBytes(24).toString('base64url')}:`;
  const bearerKey = (id: string) => (id.startsWith(referenceTag) ? id.slice(referenceTag.length) : hashId(id));

  class PrismaAdapter implements Adapter {
    private readonly key: (id: string) => string;

    constructor(private readonly model: string) {
      this.key = BEARER.has(model) ? bearerKey : (id) => id;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const key = this.key(id);
      const stored = BEARER.has(this.model) ? withoutJti(payload) : payload;
      const issued = options.storeIssued?.(this.model, key, stored, expiresIn);
      // A Grant saved together with its approval (src/db/transaction.ts) commits or rolls back with it.
      await (issued ?? upsertPayload(writerFor(prisma), this.model, key, stored, expiresIn));
    }

    async find(id: string) {
      const payload = options.findPayload
        ? asPayload(await options.findPayload(this.model, this.key(id)))
        : await this.findOne({ model: this.model, id: this.key(id) });
      // The id presented is the bearer value the payload was stored without.
      return payload && BEARER.has(this.model) ? { ...payload, jti: id } : payload;
    }

    findByUserCode(userCode: string) {
      return this.findBySecondaryKey({ model: this.model, userCode });
    }

    findByUid(uid: string) {
      return this.findBySecondaryKey({ model: this.model, uid });
    }

    /**
     * Found by uid or user code, a bearer row cannot give back its value (only the hash is stored): its `jti` is a
     * stored reference instead, so the instance can still be saved or destroyed in place.
     */
    private async findBySecondaryKey(where: Prisma.OidcPayloadWhereInput): Promise<AdapterPayload | undefined> {
      const found = await this.findRow(where);
      if (!found) return undefined;
      return BEARER.has(this.model) ? { ...found.payload, jti: `${referenceTag}${found.id}` } : found.payload;
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
      return (await this.findRow(where))?.payload;
    }

    private async findRow(where: Prisma.OidcPayloadWhereInput): Promise<{ id: string; payload: AdapterPayload } | undefined> {
      const row = await prisma.oidcPayload.findFirst({
        where: { ...where, OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }] },
        select: { id: true, payload: true, consumedAt: true },
      });
      if (!row) return undefined;
      return { id: row.id, payload: asPayload(row)! };
    }
  }

  // oidc-provider calls a non-constructable factory as a function, once per model.
  const factory = (model: string): Adapter => (model === 'Client' ? clientAdapter : new PrismaAdapter(model));
  return Object.assign(factory, { storedReference: (storedId: string) => `${referenceTag}${storedId}` });
}

/** A bearer model's payload as stored: its `jti` is the bearer value itself. */
function withoutJti(payload: AdapterPayload): AdapterPayload {
  if (!('jti' in payload)) return payload;
  const { jti: _secret, ...rest } = payload;
  return rest;
}

/** A stored row as oidc-provider reads it: a consumed row says when. */
function asPayload(row: { payload: unknown; consumedAt: Date | null } | undefined): AdapterPayload | undefined {
  if (!row) return undefined;
  const payload = row.payload as AdapterPayload;
  return row.consumedAt ? { ...payload, consumed: Math.floor(row.consumedAt.getTime() / 1000) } : payload;
}

/** The write that stores one payload under an already hashed id. */
export function upsertPayload(prisma: PrismaClient | Prisma.TransactionClient, model: string, storedId: string, payload: AdapterPayload, expiresIn?: number) {
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

/**
 * Clients are registered through the CLI and the admin API, never by oidc-provider itself, except those that arrive
 * by themselves (Client ID Metadata Documents, Dynamic Client Registration).
 */
function clientRegistryAdapter(clients: AdapterOptions['clients'], dynamic: AdapterOptions['dynamicClients']): Adapter {
  const refuse = async () => {
    throw new Error('clients are managed through the client registry, not oidc-provider');
  };
  return {
    find: async (id) => (dynamic ? dynamic.find(id) : clients.findMetadata(id)),
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
    upsert: dynamic?.register ? (id, payload) => dynamic.register!(id, payload as ClientMetadata) : refuse,
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
