// Outgoing webhooks, as organizations manage them: endpoints with a secret shown once, their deliveries, and
// sending one again. Admins, owners and API keys. Sending is the dispatcher's (webhook-dispatcher.ts).
import type { components } from '../generated/api.js';
import { ApiError, validationError } from '../kernel/errors.js';
import type { RequestContext } from '../kernel/context.js';
import type { Tx } from '../db/client.js';
import * as queries from '../db/queries/webhook-endpoints.js';
import { checkWebhookUrl, generateWebhookSecret } from '../integrations/webhooks.js';
import { asCaller, type BeforeCommit } from './context.js';
import { requireOrganization, requireRole } from './organizations.js';
import { paginate } from './pagination.js';

type WebhookEndpoint = components['schemas']['WebhookEndpoint'];
type IssuedWebhookEndpoint = components['schemas']['IssuedWebhookEndpoint'];
type WebhookEndpointCreate = components['schemas']['WebhookEndpointCreate'];
type WebhookEndpointUpdate = components['schemas']['WebhookEndpointUpdate'];
type WebhookDelivery = components['schemas']['WebhookDelivery'];

const managers = ['owner', 'admin'] as const;

async function requireManager(tx: Tx, orgId: string): Promise<void> {
  requireRole(await requireOrganization(tx, orgId), managers, 'manage webhooks');
}

async function requireEndpoint(tx: Tx, orgId: string, id: string): Promise<WebhookEndpoint> {
  const endpoint = await queries.findEndpoint(tx, orgId, id);
  if (!endpoint) throw new ApiError('NOT_FOUND', 'Webhook endpoint not found.');
  return endpoint;
}

/** A URL the service may send to: public unless the deployment allows private addresses (local development). */
async function checkUrl(ctx: RequestContext, url: string): Promise<void> {
  const check = await checkWebhookUrl(url, {
    allowPrivate: ctx.deps.allowPrivateWebhookUrls ?? false,
    resolveHost: ctx.deps.resolveWebhookHost,
  });
  if (!check.ok) throw validationError('body.url', `cannot receive webhooks: ${check.reason}`);
}

export async function createWebhookEndpoint(
  ctx: RequestContext,
  orgId: string,
  input: WebhookEndpointCreate,
  beforeCommit?: BeforeCommit<IssuedWebhookEndpoint>,
): Promise<IssuedWebhookEndpoint> {
  // The caller's role first (a member learns nothing of how a URL resolves), then the URL, outside any transaction.
  await asCaller(ctx, (tx) => requireManager(tx, orgId));
  await checkUrl(ctx, input.url);
  const secret = generateWebhookSecret();
  return asCaller(
    ctx,
    async (tx) => {
      await requireManager(tx, orgId);
      const id = await queries.createEndpoint(
        tx,
        orgId,
        { url: input.url, description: input.description ?? '', eventTypes: input.eventTypes, secret },
        ctx.serverRequestId,
      );
      return { ...(await requireEndpoint(tx, orgId, id)), secret };
    },
    { beforeCommit },
  );
}

export async function getWebhookEndpoint(ctx: RequestContext, orgId: string, id: string): Promise<WebhookEndpoint> {
  return asCaller(ctx, async (tx) => {
    await requireManager(tx, orgId);
    return requireEndpoint(tx, orgId, id);
  });
}

export async function listWebhookEndpoints(
  ctx: RequestContext,
  orgId: string,
  query: { limit?: number; cursor?: string },
): Promise<{ items: WebhookEndpoint[]; nextCursor: string | null }> {
  return paginate(query, (page) =>
    asCaller(ctx, async (tx) => {
      await requireManager(tx, orgId);
      return queries.listEndpoints(tx, orgId, page);
    }),
  );
}

export async function updateWebhookEndpoint(
  ctx: RequestContext,
  orgId: string,
  id: string,
  patch: WebhookEndpointUpdate,
): Promise<WebhookEndpoint> {
  if (patch.url !== undefined) {
    await asCaller(ctx, (tx) => requireManager(tx, orgId));
    await checkUrl(ctx, patch.url);
  }
  return asCaller(ctx, async (tx) => {
    await requireManager(tx, orgId);
    await queries.updateEndpoint(tx, orgId, id, patch, ctx.serverRequestId);
    return requireEndpoint(tx, orgId, id);
  });
}

export async function deleteWebhookEndpoint(ctx: RequestContext, orgId: string, id: string): Promise<void> {
  await asCaller(ctx, async (tx) => {
    await requireManager(tx, orgId);
    await queries.deleteEndpoint(tx, orgId, id, ctx.serverRequestId);
  });
}

export async function rotateWebhookSecret(ctx: RequestContext, orgId: string, id: string): Promise<{ secret: string }> {
  const secret = generateWebhookSecret();
  await asCaller(ctx, async (tx) => {
    await requireManager(tx, orgId);
    await queries.rotateSecret(tx, orgId, id, secret, ctx.serverRequestId);
  });
  return { secret };
}

export async function listWebhookDeliveries(
  ctx: RequestContext,
  orgId: string,
  endpointId: string,
  query: { limit?: number; cursor?: string; status?: WebhookDelivery['status'] },
): Promise<{ items: WebhookDelivery[]; nextCursor: string | null }> {
  return paginate(query, (page) =>
    asCaller(ctx, async (tx) => {
      await requireManager(tx, orgId);
      await requireEndpoint(tx, orgId, endpointId);
      return queries.listDeliveries(tx, orgId, endpointId, { ...page, status: query.status });
    }),
  );
}

export async function redeliverWebhook(ctx: RequestContext, orgId: string, endpointId: string, id: string): Promise<WebhookDelivery> {
  const delivery = await asCaller(ctx, async (tx) => {
    await requireManager(tx, orgId);
    await queries.redeliver(tx, orgId, endpointId, id);
    return (await queries.findDelivery(tx, orgId, endpointId, id))!;
  });
  ctx.deps.onWebhookQueued?.();
  return delivery;
}
