// /admin/v1/users: human accounts. Disabling a human revokes every approval and token they have (through the
// revocation service, the one revocation path); so does deleting one. Delete semantics: refused with 409 while the
// human owns agents (reassign or delete those first); otherwise their approvals and tokens are revoked, then the
// account is deleted with its approval rows. Issued-token records and audit events keep the user's id.
// A human's external identities (accounts at trusted issuers, for ID-JAGs) are written with the account, in its
// transaction; a list given replaces the stored one.
import { recordAuditEvent } from '../../audit/audit-log.js';
import { ConflictError, NotFoundError } from '../../errors.js';
import { decodeCursor, encodeCursor, UUID } from '../http.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { listOf, revokedCountSchema, userCreateSchema, userListQuery, userSchema, userUpdateSchema } from '../schemas.js';
import { adminEvent, type AdminServices } from '../services.js';
import { userView } from '../views.js';
import type { User } from '../../humans/user-store.js';

const TAG = 'users';

export function userRoutes(s: AdminServices): AdminRoute[] {
  const find = async (id: string) => {
    const user = await s.users.findById(id);
    if (!user) throw new NotFoundError(`no user ${id}`);
    return user;
  };
  /** The user as the API shows it, with their external identities (read in `tx` when inside one). */
  const view = async (user: User, tx?: Parameters<typeof s.externalIdentities.forUsers>[1]) =>
    userView(user, (await s.externalIdentities.forUsers([user.id], tx)).get(user.id) ?? []);

  return [
    defineRoute({
      method: 'POST',
      path: '/users',
      operationId: 'createUser',
      tag: TAG,
      summary: 'Create a human account',
      description: 'external_identities must name trusted issuers with purpose id_jag; a pair already linked to another human is a conflict (409).',
      body: userCreateSchema,
      status: 201,
      response: userSchema,
      errors: [409],
      handle: async ({ body, actor }) => {
        const links = body.external_identities;
        await s.trustedIssuers.checkLinks(links ?? [], 'id_jag', 'external_identities');
        return s.prisma.$transaction(async (tx) => {
          const user = await s.users.create({ username: body.username, password: body.password, displayName: body.display_name }, tx);
          if (links) await s.externalIdentities.replace(user.id, links, tx);
          await recordAuditEvent(
            tx,
            adminEvent(actor, 'user.created', { userId: user.id, details: { username: user.username, ...(links ? { external_identities: links } : {}) } }),
          );
          return view(user, tx);
        });
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/users',
      operationId: 'listUsers',
      tag: TAG,
      summary: 'List human accounts by username',
      query: userListQuery,
      response: listOf(userSchema),
      handle: async ({ query }) => {
        const page = await s.users.list({ limit: query.limit, cursor: decodeCursor('users', query.cursor, UUID), status: query.status });
        const links = await s.externalIdentities.forUsers(page.items.map((user) => user.id));
        return { items: page.items.map((user) => userView(user, links.get(user.id) ?? [])), next_cursor: encodeCursor('users', page.nextCursor) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/users/{id}',
      operationId: 'getUser',
      tag: TAG,
      summary: 'One human account',
      response: userSchema,
      errors: [404],
      handle: async ({ params }) => view(await find(params.id!)),
    }),
    defineRoute({
      method: 'PATCH',
      path: '/users/{id}',
      operationId: 'updateUser',
      tag: TAG,
      summary: 'Change display name, password, status or external identities',
      description:
        'status "disabled" refuses the human at login and revokes all their approvals and tokens; sending it again repeats the revocation (safe to retry). Re-enabling restores no approval. external_identities replaces the stored list (409 for a pair linked to another human).',
      body: userUpdateSchema,
      response: userSchema,
      errors: [404, 409],
      handle: async ({ params, body, actor }) => {
        const id = params.id!;
        const links = body.external_identities;
        await s.trustedIssuers.checkLinks(links ?? [], 'id_jag', 'external_identities');
        const shown = await s.prisma.$transaction(async (tx) => {
          const changed = await s.users.update(id, { displayName: body.display_name, password: body.password, status: body.status }, tx);
          if (links) await s.externalIdentities.replace(id, links, tx);
          const fields = (['display_name', 'password', 'external_identities'] as const).filter((field) => body[field] !== undefined);
          if (fields.length > 0) {
            await recordAuditEvent(tx, adminEvent(actor, 'user.updated', { userId: id, details: { fields, ...(links ? { external_identities: links } : {}) } }));
          }
          if (changed.before.status !== changed.after.status) {
            await recordAuditEvent(tx, adminEvent(actor, changed.after.status === 'disabled' ? 'user.disabled' : 'user.enabled', { userId: id }));
          }
          return view(changed.after, tx);
        });
        // After the commit: the human can no longer log in, so nothing new is issued while their grants are revoked.
        if (body.status === 'disabled') await s.revocation.revoke({ userId: id }, actor, 'user disabled');
        return shown;
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/users/{id}',
      operationId: 'deleteUser',
      tag: TAG,
      summary: 'Delete a human account, revoking their approvals and tokens first',
      description: 'Refused (409) while the human owns agents. Records of issued tokens and audit events keep the user id.',
      response: revokedCountSchema,
      errors: [404, 409],
      handle: async ({ params, actor }) => {
        const user = await find(params.id!);
        const owned = await s.agents.list({ limit: 1, ownerUserId: user.id });
        if (owned.items.length > 0) throw new ConflictError('the user owns agents: delete or reassign them first');
        const { revoked } = await s.revocation.revoke({ userId: user.id }, actor, 'user deleted');
        await s.prisma.$transaction(async (tx) => {
          await s.users.delete(user.id, tx);
          await recordAuditEvent(tx, adminEvent(actor, 'user.deleted', { userId: user.id, details: { username: user.username } }));
        });
        return { revoked };
      },
    }),
  ];
}
