// Members and roles: owner > admin > member. Admins manage members and admins but never owners; every
// organization keeps an owner (enforced in the database, under a lock, so concurrent requests cannot race it).
import type { components } from '../generated/api.js';
import { ApiError } from '../kernel/errors.js';
import type { RequestContext } from '../kernel/context.js';
import * as queries from '../db/queries/members.js';
import { asCaller, userOf } from './context.js';
import { requireOrganization } from './organizations.js';
import { paginate } from './pagination.js';

type Member = components['schemas']['Member'];
type Role = components['schemas']['Role'];

export async function listMembers(
  ctx: RequestContext,
  orgId: string,
  query: { limit?: number; cursor?: string; role?: Role },
): Promise<{ items: Member[]; nextCursor: string | null }> {
  userOf(ctx);
  // Members page by (joinedAt, userId).
  const page = await paginate(query, (range) =>
    asCaller(ctx, async (tx) => {
      await requireOrganization(tx, orgId);
      const rows = await queries.listMembers(tx, orgId, { ...range, role: query.role });
      return rows.map((m) => ({ ...m, createdAt: m.joinedAt, id: m.userId }));
    }),
  );
  return { items: page.items.map(({ createdAt: _c, id: _i, ...member }) => member), nextCursor: page.nextCursor };
}

export async function updateMember(ctx: RequestContext, orgId: string, userId: string, role: Role): Promise<Member> {
  userOf(ctx);
  return asCaller(ctx, async (tx) => {
    const org = await requireOrganization(tx, orgId);
    if (org.role === 'member') throw new ApiError('FORBIDDEN', 'Only owners and admins can change roles.');
    const target = await queries.findMember(tx, orgId, userId);
    if (!target) throw new ApiError('NOT_FOUND', 'Member not found.');
    // The database checks again under a lock: a role changed by a concurrent request is seen there.
    await queries.setMemberRole(tx, orgId, userId, role, ctx.serverRequestId);
    return { ...target, role };
  });
}

export async function removeMember(ctx: RequestContext, orgId: string, userId: string): Promise<void> {
  userOf(ctx);
  await asCaller(ctx, async (tx) => {
    await requireOrganization(tx, orgId);
    await queries.removeMember(tx, orgId, userId, ctx.serverRequestId);
  });
}
