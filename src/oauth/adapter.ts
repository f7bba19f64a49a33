// oidc-provider's storage on PostgreSQL: every model it persists (Grant, Session, AuthorizationCode, RefreshToken,
// Interaction, ...) is a row of `oidc_payloads` keyed by (model, id).
//
// Guarantees the provider relies on, and this project adds:
// - `find` never returns an expired row (expiry is checked in the query, not left to the sweeper);
// - `consume` is one conditional UPDATE: of two concurrent redemptions of one code or refresh token exactly one
//   wins, the other gets `invalid_grant` (oidc-provider itself only checks `consumed` before consuming);
// - `revokeByGrantId` is one DELETE per model.
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';

/** Models whose consumption is a one-time redemption; a lost race is the client's error, not the server's. */
const REDEEMABLE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

export type AdapterFactory = new (model: string) => Adapter;

export function createAdapterFactory(prisma: PrismaClient): AdapterFactory {
  return class PrismaAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const columns = {
        payload: payload as Prisma.InputJsonValue,
        grantId: typeof payload.grantId === 'string' ? payload.grantId : null,
        userCode: typeof payload.userCode === 'string' ? payload.userCode : null,
        uid: typeof payload.uid === 'string' ? payload.uid : null,
        expiresAt: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
      };
      await prisma.oidcPayload.upsert({
        where: { model_id: { model: this.model, id } },
        create: { model: this.model, id, ...columns },
        update: columns,
      });
    }

    find(id: string) {
      return this.findOne({ model: this.model, id });
    }

    findByUserCode(userCode: string) {
      return this.findOne({ model: this.model, userCode });
    }

    findByUid(uid: string) {
      return this.findOne({ model: this.model, uid });
    }

    async consume(id: string): Promise<void> {
      const { count } = await prisma.oidcPayload.updateMany({
        where: { model: this.model, id, consumedAt: null },
        data: { consumedAt: new Date() },
      });
      if (count === 0 && REDEEMABLE.has(this.model)) {
        throw new errors.InvalidGrant(`${this.model} already consumed`);
      }
    }

    async destroy(id: string): Promise<void> {
      await prisma.oidcPayload.deleteMany({ where: { model: this.model, id } });
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await prisma.oidcPayload.deleteMany({ where: { model: this.model, grantId } });
    }

    private async findOne(where: Prisma.OidcPayloadWhereInput): Promise<AdapterPayload | undefined> {
      const row = await prisma.oidcPayload.findFirst({
        where: { ...where, OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }] },
        select: { payload: true, consumedAt: true },
      });
      if (!row) return undefined;
      const payload = row.payload as AdapterPayload;
      return row.consumedAt ? { ...payload, consumed: Math.floor(row.consumedAt.getTime() / 1000) } : payload;
    }
  };
}

/** Deletes rows that expired more than `graceSeconds` ago; returns how many. Safe to run from every process. */
export async function sweepExpiredPayloads(prisma: PrismaClient, graceSeconds = 60): Promise<number> {
  const { count } = await prisma.oidcPayload.deleteMany({
    where: { expiresAt: { lt: new Date(Date.now() - graceSeconds * 1000) } },
  });
  return count;
}
