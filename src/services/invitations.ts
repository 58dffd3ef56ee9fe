// Invitations: an owner or admin invites an email address; the token (stored hashed) is emailed through
// Supabase when a project is configured, else returned to the inviter once. Valid 7 days, used once.
import { createHash, randomBytes } from 'node:crypto';
import type { components } from '../generated/api.js';
import { ApiError } from '../kernel/errors.js';
import type { RequestContext } from '../kernel/context.js';
import * as queries from '../db/queries/invitations.js';
import { findMember } from '../db/queries/members.js';
import { asCaller, ensureProfile, userOf } from './context.js';
import { requireOrganization, requireRole } from './organizations.js';
import { paginate } from './pagination.js';

type Invitation = components['schemas']['Invitation'];
type IssuedInvitation = components['schemas']['IssuedInvitation'];
type InvitationCreate = components['schemas']['InvitationCreate'];
type Membership = components['schemas']['Membership'];

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
    const id = await queries
      .createInvitation(tx, { orgId, email, role: input.role ?? 'member', tokenHash: hashToken(token), requestId: ctx.serverRequestId })
      .catch((error: { code?: string; constraint_name?: string }) => {
        if (error.code === '23505' && error.constraint_name === 'invitations_pending_email_key') {
          throw new ApiError('ALREADY_INVITED', `${email} already has a pending invitation.`, [
            { field: 'body.email', message: 'already invited' },
          ]);
        }
        throw error;
      });
    return { invitation: (await queries.findInvitation(tx, orgId, id))!, organizationName: org.name };
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
    await queries.revokeInvitation(tx, orgId, invitationId, ctx.serverRequestId);
    return (await queries.findInvitation(tx, orgId, invitationId))!;
  });
}

export async function acceptInvitation(ctx: RequestContext, token: string): Promise<Membership> {
  const user = userOf(ctx);
  return asCaller(ctx, async (tx) => {
    await ensureProfile(tx, user);
    const orgId = await queries.acceptInvitation(tx, hashToken(token), ctx.serverRequestId);
    const [org, membership] = [await requireOrganization(tx, orgId), await findMember(tx, orgId, user.userId)];
    return { organization: { id: org.id, name: org.name, slug: org.slug }, role: membership!.role, joinedAt: membership!.joinedAt };
  });
}
