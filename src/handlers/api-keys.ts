import type { components } from '../generated/api.js';
import { keptWith } from '../http/idempotency.js';
import type { Handler, HandlerResult } from '../http/types.js';
import * as apiKeys from '../services/api-keys.js';

export const listApiKeys: Handler<'listApiKeys'> = async (req, ctx) => {
  const page = await apiKeys.listApiKeys(ctx, req.params.orgId, req.query);
  return { status: 200, body: page.items, page: { nextCursor: page.nextCursor } };
};

export const createApiKey: Handler<'createApiKey'> = async (req, ctx) => {
  const respond = (key: components['schemas']['IssuedApiKey']): HandlerResult<'createApiKey'> => ({
    status: 201,
    body: key,
    headers: { Location: `/v1/organizations/${req.params.orgId}/api-keys/${key.id}` },
  });
  return respond(await apiKeys.createApiKey(ctx, req.params.orgId, req.body, keptWith(ctx, respond)));
};

export const revokeApiKey: Handler<'revokeApiKey'> = async (req, ctx) => ({
  status: 200,
  body: await apiKeys.revokeApiKey(ctx, req.params.orgId, req.params.keyId),
});
