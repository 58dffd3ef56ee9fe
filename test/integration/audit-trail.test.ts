// The audit trail over HTTP: a client's X-Request-Id comes back in the response, but the event records the
// server's own id for the request, and a change records what changed, not what the client sent.
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { signUp, type TestUser } from '../support/server.js';

const app = useTestApp({ allowPrivateWebhookUrls: true });
let owner: TestUser;
let orgId: string;
let endpointId: string;

const client = () => app.server.client({ accessToken: owner.token });
const serverId = /^req_[0-9a-f]{32}$/;

async function describeEndpoint(description: string, requestId?: string) {
  const updated = await client().PATCH('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}', {
    params: { path: { orgId, endpointId } },
    body: { description },
    headers: requestId ? { 'X-Request-Id': requestId } : {},
  });
  expect(updated.response.status, JSON.stringify(updated.error)).toBe(200);
  const events = await client().GET('/v1/organizations/{orgId}/audit-events', {
    params: { path: { orgId }, query: { action: 'organization.webhook_endpoint_updated', limit: 1 } },
  });
  return { echoed: updated.response.headers.get('x-request-id'), event: events.data!.data[0]! };
}

beforeAll(async () => {
  owner = await signUp(app.database.db, 'audited-owner@example.com');
  orgId = (await client().POST('/v1/organizations', { body: { name: 'Audited' } })).data!.data.id;
  const created = await client().POST('/v1/organizations/{orgId}/webhook-endpoints', {
    params: { path: { orgId } },
    body: { url: 'http://127.0.0.1:9/hooks', eventTypes: ['task.succeeded'], description: 'First' },
  });
  endpointId = created.data!.data.id;
});

describe('the request id an audit event records', () => {
  it("is the server's own, while the client's X-Request-Id is echoed", async () => {
    const { echoed, event } = await describeEndpoint('Second', 'client-chosen.42');
    expect(echoed).toBe('client-chosen.42');
    expect(event.requestId).toMatch(serverId);
    expect(event.actor).toMatchObject({ type: 'user', id: owner.id, email: owner.email });
    expect(event.before).toEqual({ endpoint: endpointId, description: 'First' });
    expect(event.after).toEqual({ endpoint: endpointId, description: 'Second' });
  });

  it("is never a client's id, even one shaped like ours", async () => {
    const chosen = `req_${'0'.repeat(32)}`;
    const { echoed, event } = await describeEndpoint('Third', chosen);
    expect(echoed).toBe(chosen);
    expect(event.requestId).toMatch(serverId);
    expect(event.requestId).not.toBe(chosen);
  });

  it('is the one the response carries when the client sent none', async () => {
    const { echoed, event } = await describeEndpoint('Fourth');
    expect(echoed).toMatch(serverId);
    expect(event.requestId).toBe(echoed);
  });
});
