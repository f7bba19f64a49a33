// `agentauth audit verify`: recomputes the audit log's HMAC chain (src/audit/audit-chain.ts) and reports the first
// event that was edited, deleted, moved or inserted, or a tail cut off before the newest checkpoint. Needs the same
// AGENTAUTH_KEK as the server: the chain key is derived from it. Exits non-zero when verification fails.
import { chainAuditEvents, deriveAuditKeys, verifyAuditChain, type VerifyReport } from '../../audit/audit-chain.js';
import { parseOptions } from '../args.js';
import type { CliCommand } from '../context.js';

export class AuditVerificationError extends Error {
  override name = 'AuditVerificationError';
}

export const auditVerify: CliCommand = {
  name: 'audit verify',
  summary: 'verify the audit log has not been edited, deleted from, reordered or truncated (exit 1 if it has)',
  usage: '[--chain-first] [--json]   (--chain-first runs a chaining pass before verifying, as a server would)',
  async run(ctx, args) {
    const options = parseOptions(args, { 'chain-first': { type: 'boolean' }, json: { type: 'boolean' } });
    const keys = deriveAuditKeys(ctx.kek);
    if (options['chain-first']) await chainAuditEvents(ctx.db.pool, keys, { graceMs: ctx.config.audit.chainGraceSeconds * 1000 });
    const report = await verifyAuditChain(ctx.db.prisma, keys);
    if (options.json) ctx.print(JSON.stringify(toJson(report)));
    else {
      ctx.print(
        report.eventsVerified === 0
          ? `no chained audit events to verify yet (${report.checkpoints} checkpoints)`
          : `verified ${report.eventsVerified} events, seq ${report.fromSeq + 1n}..${report.verifiedThrough}, against ${report.checkpoints} checkpoints`,
      );
      if (report.unchained > 0) ctx.print(`${report.unchained} newer events are not chained yet (a server chains them within moments)`);
      ctx.print(report.problem ? `FAILED (${report.problem.kind}) at seq ${report.problem.seq}: ${report.problem.message}` : 'OK');
    }
    if (report.problem) throw new AuditVerificationError(`audit verification failed: ${report.problem.message}`);
  },
};

function toJson(report: VerifyReport) {
  return {
    ok: report.ok,
    problem: report.problem ? { ...report.problem, seq: report.problem.seq.toString() } : null,
    from_seq: report.fromSeq.toString(),
    verified_through: report.verifiedThrough.toString(),
    events_verified: report.eventsVerified,
    checkpoints: report.checkpoints,
    unchained: report.unchained,
  };
}
