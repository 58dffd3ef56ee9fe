import type { Handler } from '../http/types.js';
import * as tools from '../services/tools.js';

export const listOrganizationTools: Handler<'listOrganizationTools'> = async (req, ctx) => ({
  status: 200,
  body: await tools.listOrganizationTools(ctx, req.params.orgId),
  page: { nextCursor: null },
});

export const putOrganizationTool: Handler<'putOrganizationTool'> = async (req, ctx) => {
  const { tool, created } = await tools.putOrganizationTool(ctx, req.params.orgId, req.params.toolName, req.body);
  if (!created) return { status: 200, body: tool };
  return { status: 201, body: tool, headers: { Location: `/v1/organizations/${req.params.orgId}/tools/${tool.name}` } };
};

export const deleteOrganizationTool: Handler<'deleteOrganizationTool'> = async (req, ctx) => {
  await tools.deleteOrganizationTool(ctx, req.params.orgId, req.params.toolName);
  return { status: 204 };
};
