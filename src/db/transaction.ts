// One transaction across stores that do not know about each other: code running inside `inTransaction` writes through
// the same Prisma transaction wherever it asks for `writerFor(prisma)`. It exists for writes that must commit
// together but are made by different layers, e.g. an oidc-provider Grant (saved through the provider's adapter) and
// the approval it stands for (saved by the approval store).
import { AsyncLocalStorage } from 'node:async_hooks';
import type { PrismaClient } from './client.js';
import type { Prisma } from '../../generated/prisma/client.js';

const current = new AsyncLocalStorage<Prisma.TransactionClient>();

/** Runs `work` in one database transaction; stores reached from it through `writerFor` take part in it. */
export function inTransaction<T>(prisma: PrismaClient, work: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
  const open = current.getStore();
  if (open) return work(open);
  return prisma.$transaction((tx) => current.run(tx, () => work(tx)));
}

/** The transaction this code runs in, if any, else the client itself. */
export function writerFor(prisma: PrismaClient): PrismaClient | Prisma.TransactionClient {
  return current.getStore() ?? prisma;
}

/** `inTransaction` bound to the database: what code that must not hold the client itself (pages, CIBA) is given. */
export function createTransactions(prisma: PrismaClient) {
  return <T>(work: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> => inTransaction(prisma, work);
}

export type InTransaction = ReturnType<typeof createTransactions>;
