import type { components } from '../generated/api.js';
import { keptWith } from '../http/idempotency.js';
import type { Handler, HandlerResult } from '../http/types.js';
import * as organizations from '../services/organizations.js';

export const listOrganizations: Handler<'listOrganizations'> = async (req, ctx) => {
  const page = await organizations.listOrganizations(ctx, req.query);
  return { status: 200, body: page.items, page: { nextCursor: page.nextCursor } };
};

export const createOrganization: Handler<'createOrganization'> = async (req, ctx) => {
  const respond = (org: components['schemas']['Organization']): HandlerResult<'createOrganization'> => ({
    status: 201,
    body: org,
    headers: { Location: `/v1/organizations/${org.id}` },
  });
  return respond(await organizations.createOrganization(ctx, req.body, keptWith(ctx, respond)));
};

export const getOrganization: Handler<'getOrganization'> = async (req, ctx) => ({
  status: 200,
  body: await organizations.getOrganization(ctx, req.params.orgId),
});

export const updateOrganization: Handler<'updateOrganization'> = async (req, ctx) => ({
  status: 200,
  body: await organizations.updateOrganization(ctx, req.params.orgId, req.body, req.headers['If-Match']),
});

export const deleteOrganization: Handler<'deleteOrganization'> = async (req, ctx) => ({
  status: 200,
  body: await organizations.deleteOrganization(ctx, req.params.orgId),
});

export const restoreOrganization: Handler<'restoreOrganization'> = async (req, ctx) => ({
  status: 200,
  body: await organizations.restoreOrganization(ctx, req.params.orgId),
});
