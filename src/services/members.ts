// Members and roles: owner > admin > member. Admins manage members and admins but never owners; every
// organization keeps an owner (enforced in the database, under a lock, so concurrent requests cannot race it).
import type { components } from '../generated/api.js';
import { ApiError } from '../http/errors.js';
import type { RequestContext } from '../http/types.js';
import * as queries from '../db/queries/members.js';
import { insertAuditEvent } from '../db/queries/audit.js';
import { actorOf, asCaller, userOf } from './context.js';
import { requireOrganization } from './organizations.js';
import { paginate } from './pagination.js';

type Member = components['schemas']['Member'];
type Role = components['schemas']['Role'];

function lastOwner(error: unknown): never {
  if ((error as { hint?: string }).hint === 'last_owner') {
    throw new ApiError('CONFLICT', 'An organization must keep at least one owner: make someone else owner first.');
  }
  throw error;
}

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
    if (org.role === 'admin' && (target.role === 'owner' || role === 'owner')) {
      throw new ApiError('FORBIDDEN', 'Only owners can change an owner or make someone owner.');
    }
    if (target.role === role) return target;
    // Another request may have changed the caller's own role since it was read: RLS then matches no row.
    const changed = await queries.setMemberRole(tx, orgId, userId, role).catch(lastOwner);
    if (changed === 0) throw new ApiError('FORBIDDEN', 'Your role no longer allows this change.');
    await insertAuditEvent(tx, {
      organizationId: orgId,
      actor: actorOf(ctx),
      action: 'member.role_changed',
      targetType: 'member',
      targetId: userId,
      before: { role: target.role },
      after: { role },
      requestId: ctx.requestId,
    });
    return { ...target, role };
  });
}

export async function removeMember(ctx: RequestContext, orgId: string, userId: string): Promise<void> {
  const caller = userOf(ctx);
  await asCaller(ctx, async (tx) => {
    const org = await requireOrganization(tx, orgId);
    const target = await queries.findMember(tx, orgId, userId);
    if (!target) throw new ApiError('NOT_FOUND', 'Member not found.');
    const self = userId === caller.userId;
    if (!self && org.role === 'member') throw new ApiError('FORBIDDEN', 'Only owners and admins can remove others.');
    if (!self && org.role === 'admin' && target.role === 'owner') throw new ApiError('FORBIDDEN', 'Only owners can remove an owner.');
    // Audit first: once the caller has left, RLS no longer lets them write the organization's events.
    await insertAuditEvent(tx, {
      organizationId: orgId,
      actor: actorOf(ctx),
      action: self ? 'member.left' : 'member.removed',
      targetType: 'member',
      targetId: userId,
      before: { role: target.role, email: target.email },
      requestId: ctx.requestId,
    });
    const removed = await queries.deleteMember(tx, orgId, userId).catch(lastOwner);
    if (removed === 0) throw new ApiError('FORBIDDEN', 'Your role no longer allows this change.');
  });
}
