import type { components } from '../generated/api.js';
import { keptWith } from '../http/idempotency.js';
import type { Handler, HandlerResult } from '../http/types.js';
import * as webhooks from '../services/webhook-endpoints.js';

export const listWebhookEndpoints: Handler<'listWebhookEndpoints'> = async (req, ctx) => {
  const page = await webhooks.listWebhookEndpoints(ctx, req.params.orgId, req.query);
  return { status: 200, body: page.items, page: { nextCursor: page.nextCursor } };
};

export const createWebhookEndpoint: Handler<'createWebhookEndpoint'> = async (req, ctx) => {
  const respond = (endpoint: components['schemas']['IssuedWebhookEndpoint']): HandlerResult<'createWebhookEndpoint'> => ({
    status: 201,
    body: endpoint,
    headers: { Location: `/v1/organizations/${req.params.orgId}/webhook-endpoints/${endpoint.id}` },
  });
  return respond(await webhooks.createWebhookEndpoint(ctx, req.params.orgId, req.body, keptWith(ctx, respond)));
};

export const getWebhookEndpoint: Handler<'getWebhookEndpoint'> = async (req, ctx) => ({
  status: 200,
  body: await webhooks.getWebhookEndpoint(ctx, req.params.orgId, req.params.endpointId),
});

export const updateWebhookEndpoint: Handler<'updateWebhookEndpoint'> = async (req, ctx) => ({
  status: 200,
  body: await webhooks.updateWebhookEndpoint(ctx, req.params.orgId, req.params.endpointId, req.body),
});

export const deleteWebhookEndpoint: Handler<'deleteWebhookEndpoint'> = async (req, ctx) => {
  await webhooks.deleteWebhookEndpoint(ctx, req.params.orgId, req.params.endpointId);
  return { status: 204 };
};

export const rotateWebhookSecret: Handler<'rotateWebhookSecret'> = async (req, ctx) => ({
  status: 200,
  body: await webhooks.rotateWebhookSecret(ctx, req.params.orgId, req.params.endpointId),
});

export const listWebhookDeliveries: Handler<'listWebhookDeliveries'> = async (req, ctx) => {
  const page = await webhooks.listWebhookDeliveries(ctx, req.params.orgId, req.params.endpointId, req.query);
  return { status: 200, body: page.items, page: { nextCursor: page.nextCursor } };
};

export const redeliverWebhook: Handler<'redeliverWebhook'> = async (req, ctx) => ({
  status: 202,
  body: await webhooks.redeliverWebhook(ctx, req.params.orgId, req.params.endpointId, req.params.deliveryId),
});
