// The audit log writer. Every event names who acted and what kind of principal that was (a human, an agent, an
// app, an admin or the system), the human and agent involved, and the request it came from. Callers that change
// state pass their transaction, so the event commits (or not) together with the action it describes.
import type { PrismaClient } from '../db/client.js';
import type { Prisma } from '../../generated/prisma/client.js';
import type { AuditAction } from './actions.js';
import { metrics } from '../observability/metrics.js';

export type ActorKind = 'human' | 'agent' | 'app' | 'admin' | 'system';

export type AuditEventInput = {
  action: AuditAction;
  outcome: 'success' | 'failure';
  actor: { kind: ActorKind; id?: string | undefined };
  userId?: string | undefined;
  agentId?: string | undefined;
  /** The delegation chain, current actor first: [{ sub, kind }]. */
  actorChain?: Array<{ sub: string; kind: string }> | undefined;
  clientId?: string | undefined;
  requestId?: string | undefined;
  ip?: string | undefined;
  details?: Record<string, unknown>;
};

type Writer = Pick<PrismaClient, 'auditEvent'> | Prisma.TransactionClient;

/** Where an event's request came from: its request id (src/http/request-context.ts) and the client's address. */
export function requestOrigin(ctx: { state: unknown; ip: string }): Pick<AuditEventInput, 'requestId' | 'ip'> {
  return { requestId: (ctx.state as { requestId?: string } | undefined)?.requestId, ip: ctx.ip };
}

export function auditData(event: AuditEventInput): Prisma.AuditEventCreateManyInput {
  return {
    action: event.action,
    outcome: event.outcome,
    actorKind: event.actor.kind,
    actorId: event.actor.id ?? null,
    userId: event.userId ?? null,
    agentId: event.agentId ?? null,
    actorChain: (event.actorChain ?? undefined) as Prisma.InputJsonValue | undefined,
    clientId: event.clientId ?? null,
    requestId: event.requestId ?? null,
    ip: event.ip ?? null,
    details: (event.details ?? {}) as Prisma.InputJsonValue,
  };
}

export async function recordAuditEvent(writer: Writer, event: AuditEventInput): Promise<void> {
  await writer.auditEvent.create({ data: auditData(event), select: { seq: true } });
  if (event.action.endsWith('.refused')) countRefusal(event);
}

/** Refusals by endpoint and the rule id (or OAuth error code) that refused; anything else is `other` (bounded labels). */
function countRefusal(event: AuditEventInput): void {
  const rule = event.details?.rule ?? event.details?.error;
  metrics.refusals.inc({
    endpoint: event.action.slice(0, -'.refused'.length),
    rule: typeof rule === 'string' && /^[a-z0-9_.:-]{1,64}$/.test(rule) ? rule : 'other',
  });
}

/** The audit log bound to a database, for modules that only append events and hold no database handle (pages). */
export type AuditLog = { record(event: AuditEventInput): Promise<void> };

export function createAuditLog(writer: Writer): AuditLog {
  return { record: (event) => recordAuditEvent(writer, event) };
}
