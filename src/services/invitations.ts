// Invitations: an owner or admin invites an email address; the token (stored hashed) is emailed through
// Supabase when a project is configured, else returned to the inviter once. Valid 7 days, used once.
import { createHash, randomBytes } from 'node:crypto';
import type { components } from '../generated/api.js';
import { ApiError } from '../http/errors.js';
import type { RequestContext } from '../http/types.js';
import * as queries from '../db/queries/invitations.js';
import { insertAuditEvent } from '../db/queries/audit.js';
import { actorOf, asCaller, ensureProfile, userOf } from './context.js';
import { requireOrganization, requireRole } from './organizations.js';
import { paginate } from './pagination.js';

type Invitation = components['schemas']['Invitation'];
type IssuedInvitation = components['schemas']['IssuedInvitation'];
type InvitationCreate = components['schemas']['InvitationCreate'];
type Membership = components['schemas']['Membership'];

export const invitationValidDays = 7;
const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

const requireManager = (org: { role: string }): void => requireRole(org, ['owner', 'admin'], 'manage invitations');

export async function createInvitation(ctx: RequestContext, orgId: string, input: InvitationCreate): Promise<IssuedInvitation> {
  const user = userOf(ctx);
  const email = input.email.toLowerCase();
  const token = `inv_${randomBytes(32).toString('base64url')}`;
  const acceptUrl = `${ctx.deps.invitationUrl ?? 'http://localhost:3000/invitations/accept'}?token=${token}`;
  const { invitation, organizationName } = await asCaller(ctx, async (tx) => {
    const org = await requireOrganization(tx, orgId);
    requireManager(org);
    await ensureProfile(tx, user);
    if (await queries.isMemberByEmail(tx, orgId, email)) {
      throw new ApiError('CONFLICT', `${email} is already a member.`, [{ field: 'body.email', message: 'already a member' }]);
    }
    await queries.expireStaleInvitation(tx, orgId, email);
    const row = await queries
      .insertInvitation(tx, { orgId, email, role: input.role ?? 'member', tokenHash: hashToken(token), invitedBy: user.userId, validDays: invitationValidDays })
      .catch((error: { code?: string; constraint_name?: string }) => {
        if (error.code === '23505' && error.constraint_name === 'invitations_pending_email_key') {
          throw new ApiError('CONFLICT', `${email} already has a pending invitation.`, [{ field: 'body.email', message: 'already invited' }]);
        }
        throw error;
      });
    await insertAuditEvent(tx, {
      organizationId: orgId,
      actor: actorOf(ctx),
      action: 'invitation.created',
      targetType: 'invitation',
      targetId: row.id,
      after: { email, role: row.role },
      requestId: ctx.requestId,
    });
    return { invitation: row, organizationName: org.name };
  });
  // The email goes out after the invitation is committed; if it fails, the inviter gets the token instead.
  let emailSent = false;
  if (ctx.deps.mailer) {
    try {
      await ctx.deps.mailer.sendInvitation(email, acceptUrl, organizationName);
      emailSent = true;
    } catch (error) {
      ctx.log.warn({ err: error, invitationId: invitation.id }, 'invitation email failed; returning the token instead');
    }
  }
  return { ...invitation, emailSent, token: emailSent ? null : token, acceptUrl: emailSent ? null : acceptUrl };
}

export async function listInvitations(
  ctx: RequestContext,
  orgId: string,
  query: { limit?: number; cursor?: string; status?: queries.InvitationStatus },
): Promise<{ items: Invitation[]; nextCursor: string | null }> {
  userOf(ctx);
  return paginate(query, (page) =>
    asCaller(ctx, async (tx) => {
      requireManager(await requireOrganization(tx, orgId));
      return queries.listInvitations(tx, orgId, { ...page, status: query.status });
    }),
  );
}

export async function revokeInvitation(ctx: RequestContext, orgId: string, invitationId: string): Promise<Invitation> {
  userOf(ctx);
  return asCaller(ctx, async (tx) => {
    requireManager(await requireOrganization(tx, orgId));
    const invitation = await queries.findInvitation(tx, orgId, invitationId);
    if (!invitation) throw new ApiError('NOT_FOUND', 'Invitation not found.');
    if (invitation.status !== 'pending') throw new ApiError('CONFLICT', `The invitation is ${invitation.status}, not pending.`);
    if ((await queries.revokeInvitation(tx, orgId, invitationId)) === 0) {
      throw new ApiError('CONFLICT', 'The invitation is no longer pending.');
    }
    await insertAuditEvent(tx, {
      organizationId: orgId,
      actor: actorOf(ctx),
      action: 'invitation.revoked',
      targetType: 'invitation',
      targetId: invitationId,
      before: { email: invitation.email, role: invitation.role },
      requestId: ctx.requestId,
    });
    return (await queries.findInvitation(tx, orgId, invitationId))!;
  });
}

// The hints raised by public.accept_invitation, as the errors a client gets.
const acceptErrors: Record<string, () => ApiError> = {
  invitation_not_found: () => new ApiError('NOT_FOUND', 'Invitation not found: unknown, revoked or expired.'),
  invitation_email_mismatch: () => new ApiError('FORBIDDEN', 'This invitation was sent to another email address.'),
  invitation_used: () => new ApiError('CONFLICT', 'This invitation has already been accepted.'),
  already_member: () => new ApiError('CONFLICT', 'You are already a member of this organization.'),
};

export async function acceptInvitation(ctx: RequestContext, token: string): Promise<Membership> {
  const user = userOf(ctx);
  return asCaller(ctx, async (tx) => {
    await ensureProfile(tx, user);
    const membership = await queries.acceptInvitation(tx, hashToken(token), ctx.requestId).catch((error: { hint?: string }) => {
      const known = error.hint ? acceptErrors[error.hint] : undefined;
      throw known ? known() : error;
    });
    const org = (await requireOrganization(tx, membership.organizationId));
    return { organization: { id: org.id, name: org.name, slug: org.slug }, role: membership.role, joinedAt: membership.joinedAt };
  });
}
