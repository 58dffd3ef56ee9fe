// The frontend promise: the same SDK code works against the Prism mock and the real service, only the
// base URL changes. Both answers are checked against the contract by the SDK's middleware.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStaffroomClient, type StaffroomClient } from '../../sdk/index.js';
import { withContractCheck, startTestServer, type TestServer } from '../support/server.js';
import { contractProblems, exampleRequest, contractOperations } from '../support/contract.js';
import { startPrismMock, type PrismMock } from '../support/processes.js';
import { contract } from '../../src/http/contract.js';

let real: TestServer;
let prism: PrismMock;
let prismUrl: string;

beforeAll(async () => {
  real = await startTestServer();
  prism = await startPrismMock();
  prismUrl = prism.url;
});
afterAll(async () => {
  await prism?.stop();
  await real?.close();
});

/** What a frontend would write once, whatever it points at. */
async function browseCatalog(client: StaffroomClient) {
  const health = await client.GET('/v1/health');
  const plans = await client.GET('/v1/plans');
  const packs = await client.GET('/v1/credit-packs');
  const models = await client.GET('/v1/models', { params: { query: { provider: 'openai' } } });
  return { health, plans, packs, models };
}

describe.each([
  ['the Prism mock', () => withContractCheck(createStaffroomClient({ baseUrl: prismUrl }))],
  ['the real service', () => real.client()],
])('the SDK against %s', (_name, makeClient) => {
  it('browses the catalog with the same code', async () => {
    const { health, plans, packs, models } = await browseCatalog(makeClient());
    expect(health.response.status).toBe(200);
    expect(['ok', 'degraded']).toContain(health.data?.data.status);
    expect(plans.data?.data.length).toBeGreaterThan(0);
    expect(packs.data?.data.length).toBeGreaterThan(0);
    expect(models.data?.data.every((m) => m.provider === 'openai')).toBe(true);
  });
});

describe('the Prism mock', () => {
  it('serves the operations the service does not implement yet, from their examples', async () => {
    const client = withContractCheck(createStaffroomClient({ baseUrl: prismUrl, accessToken: 'mock-token' }));
    const { data, response } = await client.GET('/v1/organizations/{orgId}/tasks/{taskId}', {
      params: { path: { orgId: '3f1c9a52-7d2e-4b8a-9c41-2f6d8e0b7a13', taskId: '7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918' } },
    });
    expect(response.status).toBe(200);
    expect(data?.data.id).toBeTruthy();
  });

  it.each(contractOperations())('serves $operationId from its documented example', async (op) => {
    const request = exampleRequest(op.operationId);
    const response = await fetch(`${prismUrl}${request.path}`, {
      method: op.method,
      headers: { Authorization: 'Bearer mock-token', ...request.headers },
      body: request.body,
    });
    const text = await response.text();
    expect(response.status, text).toBeGreaterThanOrEqual(200);
    expect(response.status, text).toBeLessThan(300);
    // JSON bodies are compared parsed; others (a task's event stream) as the text they are.
    const body = !text ? undefined : /json/.test(response.headers.get('content-type') ?? '') ? (JSON.parse(text) as unknown) : text;
    expect(contractProblems(op.path, op.method, response.status, withRequestId(response.headers), body)).toEqual([]);
  });

  it('rejects an invalid request the way the contract says', async () => {
    const response = await fetch(`${prismUrl}/v1/organizations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer mock-token' },
      body: JSON.stringify({ nme: 'typo' }),
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
  });

  // What the README's "Mock from day one" promises a frontend team, and the differences it lists.
  it("answers a 400 with the operation's own field, the real problem in sl-violations", async () => {
    const invalid = await fetch(`${prismUrl}/v1/organizations?limit=500`, { headers: { Authorization: 'Bearer mock-token' } });
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ error: { code: 'VALIDATION_ERROR', details: [{ field: 'query.limit' }] } });
    expect(invalid.headers.get('sl-violations')).toContain('limit');

    const request = exampleRequest('createTask');
    const asked = await fetch(`${prismUrl}${request.path}`, {
      method: 'POST',
      headers: { Authorization: 'Bearer mock-token', Prefer: 'code=400', ...request.headers },
      body: request.body,
    });
    expect(asked.status).toBe(400);
    expect(await asked.json()).toMatchObject({ error: { details: [{ field: 'body.input', message: 'is required' }] } });
  });

  it('answers each error branch on Prefer: code=N, a named example on example=<name>, with a short Retry-After', async () => {
    const request = exampleRequest('createInvitation');
    const limited = await fetch(`${prismUrl}${request.path}`, {
      method: 'POST',
      headers: { Authorization: 'Bearer mock-token', Prefer: 'code=409, example=planLimitReached', ...request.headers },
      body: request.body,
    });
    expect(limited.status).toBe(409);
    expect(await limited.json()).toMatchObject({ error: { code: 'PLAN_LIMIT_REACHED' } });

    for (const code of [429, 503]) {
      const response = await fetch(`${prismUrl}/v1/organizations`, {
        headers: { Authorization: 'Bearer mock-token', Prefer: `code=${code}` },
      });
      expect(response.status).toBe(code);
      expect(Number(response.headers.get('retry-after'))).toBeLessThanOrEqual(2);
    }
  });

  it('says the contract version in health, and (unlike the service) lets an undeclared query parameter through', async () => {
    const health = await fetch(`${prismUrl}/v1/health?verbose=1`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { data: { version: string } }).data.version).toBe(contract.info.version);
    const service = await fetch(`${real.baseUrl}/v1/health?verbose=1`);
    expect(service.status).toBe(400);
    expect(await service.json()).toMatchObject({ error: { details: [{ field: 'query.verbose' }] } });
  });
});

// Prism does not invent the X-Request-Id header; everything else must conform.
function withRequestId(headers: Headers): Headers {
  const copy = new Headers(headers);
  if (!copy.has('x-request-id')) copy.set('x-request-id', 'prism');
  return copy;
}
