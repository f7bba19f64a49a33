// ciba_requests rows written before auth_req_ids were stored hashed carry the auth_req_id itself as their id: a
// value an agent could still redeem. SQL cannot compute the keyed hash (its key derives from the KEK, which never
// enters the database), so each server rewrites such rows at start; it is idempotent and cheap once done (the rows
// it looks for are those whose id is not yet a hash).
import type { PrismaClient } from '../db/client.js';

const HASHED = 'hmac-sha256:';

export async function rehashLegacyCibaIds(prisma: PrismaClient, hash: (value: string) => string): Promise<number> {
  const legacy = await prisma.cibaRequest.findMany({ where: { NOT: { id: { startsWith: HASHED } } }, select: { id: true } });
  for (const { id } of legacy) {
    await prisma.cibaRequest.updateMany({ where: { id }, data: { id: hash(id) } });
  }
  return legacy.length;
}
