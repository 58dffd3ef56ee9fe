import type { Handler } from '../http/types.js';
import * as invitations from '../services/invitations.js';

export const listInvitations: Handler<'listInvitations'> = async (req, ctx) => {
  const page = await invitations.listInvitations(ctx, req.params.orgId, req.query);
  return { status: 200, body: page.items, page: { nextCursor: page.nextCursor } };
};

export const createInvitation: Handler<'createInvitation'> = async (req, ctx) => {
  const invitation = await invitations.createInvitation(ctx, req.params.orgId, req.body);
  return { status: 201, body: invitation, headers: { Location: `/v1/organizations/${req.params.orgId}/invitations/${invitation.id}` } };
};

export const revokeInvitation: Handler<'revokeInvitation'> = async (req, ctx) => ({
  status: 200,
  body: await invitations.revokeInvitation(ctx, req.params.orgId, req.params.invitationId),
});

export const acceptInvitation: Handler<'acceptInvitation'> = async (req, ctx) => ({
  status: 200,
  body: await invitations.acceptInvitation(ctx, req.body.token),
});
