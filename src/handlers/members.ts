import type { Handler } from '../http/types.js';
import * as members from '../services/members.js';

export const listMembers: Handler<'listMembers'> = async (req, ctx) => {
  const page = await members.listMembers(ctx, req.params.orgId, req.query);
  return { status: 200, body: page.items, page: { nextCursor: page.nextCursor } };
};

export const updateMember: Handler<'updateMember'> = async (req, ctx) => ({
  status: 200,
  body: await members.updateMember(ctx, req.params.orgId, req.params.userId, req.body.role),
});

export const removeMember: Handler<'removeMember'> = async (req, ctx) => {
  await members.removeMember(ctx, req.params.orgId, req.params.userId);
  return { status: 204 };
};
