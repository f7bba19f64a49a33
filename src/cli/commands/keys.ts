// `agentauth keys rotate|list`: signing and cookie key rotation. Rotation happens in the database (one transaction
// under an advisory lock) and is announced with NOTIFY at commit; every running server reloads its keys at once,
// or at its next poll if it missed the notification. Nothing here ever prints key material.
import { listKeys, NoKeysError, rotateKeys, RotationTooSoonError, type KeyInfo } from '../../keys/key-store.js';
import { DEFAULT_KEY_POLL_INTERVAL_SECONDS, rotationPolicy } from '../../keys/rotation-policy.js';
import { parseOptions } from '../args.js';
import { recordAuditEvent } from '../../audit/audit-log.js';
import { CLI_ACTOR, UsageError, type CliCommand } from '../context.js';

export const keysRotate: CliCommand = {
  name: 'keys rotate',
  summary: 'rotate signing and cookie keys: the published next key starts signing, a new next key is published',
  usage: '[--force] [--json]   (run with the same environment as the server: its token and session lifetimes set how long old keys are kept)',
  async run(ctx, args) {
    const options = parseOptions(args, { force: { type: 'boolean' }, json: { type: 'boolean' } });
    const policy = rotationPolicy(ctx.config, { force: options.force ?? false });
    try {
      const result = await rotateKeys(ctx.db.prisma, ctx.kek, policy, undefined, (tx, rotated) =>
        recordAuditEvent(tx, {
          ...CLI_ACTOR,
          action: 'keys.rotated',
          outcome: 'success',
          details: { current: rotated.current, next: rotated.next, retired: rotated.retired ?? null, forced: options.force ?? false },
        }),
      );
      if (options.json) {
        ctx.print(JSON.stringify({ current: result.current, next: result.next, retired: result.retired ?? null, retire_after: result.signingRetireAfter, pruned: result.pruned }));
        return;
      }
      ctx.print(`current ${result.current}`);
      ctx.print(`next    ${result.next}`);
      if (result.retired) ctx.print(`retired ${result.retired} (published for verification until ${result.signingRetireAfter.toISOString()})`);
      if (result.pruned.signing + result.pruned.cookie > 0) ctx.print(`deleted ${result.pruned.signing} signing and ${result.pruned.cookie} cookie keys past their retention`);
      ctx.print(`running servers were notified; any that missed it reload within ${DEFAULT_KEY_POLL_INTERVAL_SECONDS} s`);
    } catch (error) {
      if (error instanceof RotationTooSoonError) {
        throw new UsageError(`${error.message}, or pass --force (tokens the new key signs may then fail at resource servers whose cached JWKS predates it)`);
      }
      if (error instanceof NoKeysError) throw new UsageError(error.message);
      throw error;
    }
  },
};

export const keysList: CliCommand = {
  name: 'keys list',
  summary: 'list signing and cookie keys: id, state and dates (never key material)',
  usage: '[--json]',
  async run(ctx, args) {
    const options = parseOptions(args, { json: { type: 'boolean' } });
    const keys = await listKeys(ctx.db.prisma);
    if (options.json) return ctx.print(JSON.stringify(keys.map(toJson)));
    ctx.print(['kind', 'id', 'state', 'created', 'activated', 'retire_after'].join('\t'));
    for (const k of keys) ctx.print([k.kind, k.id, k.state, iso(k.createdAt), iso(k.activatedAt), iso(k.retireAfter)].join('\t'));
  },
};

function toJson(key: KeyInfo) {
  return {
    kind: key.kind,
    id: key.id,
    alg: key.alg,
    state: key.state,
    created_at: key.createdAt,
    activated_at: key.activatedAt,
    retired_at: key.retiredAt,
    retire_after: key.retireAfter,
  };
}

function iso(date: Date | null): string {
  return date ? date.toISOString() : '-';
}
