import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { listModels, models, plans } from '../../src/services/catalog.js';
import { knownTools } from '../../src/services/agent-definition.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

describe('getHealth', () => {
  it('reports ok with the contract version when no database is configured', async () => {
    const { data, response } = await server.client().GET('/v1/health');
    expect(response.status).toBe(200);
    expect(data?.data.status).toBe('ok');
    expect(data?.data.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(data?.data.database).toEqual({ status: 'not_configured', latencyMs: null });
  });

  it('is degraded, not down, when the database does not answer', async () => {
    const failing = await startTestServer({ pingDatabase: () => Promise.reject(new Error('connection refused')) });
    try {
      const { data, response } = await failing.client().GET('/v1/health');
      expect(response.status).toBe(200);
      expect(data?.data).toMatchObject({ status: 'degraded', database: { status: 'unreachable', latencyMs: null } });
    } finally {
      await failing.close();
    }
  });

  it('echoes a valid X-Request-Id and replaces an invalid one', async () => {
    const echoed = await fetch(`${server.baseUrl}/v1/health`, { headers: { 'X-Request-Id': 'client-123.abc' } });
    expect(echoed.headers.get('x-request-id')).toBe('client-123.abc');
    const replaced = await fetch(`${server.baseUrl}/v1/health`, { headers: { 'X-Request-Id': 'bad id\twith spaces' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
  });
});

describe('catalog', () => {
  it('lists the plans, cacheable, as one page', async () => {
    const { data, response } = await server.client().GET('/v1/plans');
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('public, max-age=3600, stale-while-revalidate=86400');
    expect(data?.data.map((p) => p.id)).toEqual(plans.map((p) => p.id));
    expect(data?.page).toEqual({ nextCursor: null });
  });

  it('lists the credit packs', async () => {
    const { data } = await server.client().GET('/v1/credit-packs');
    expect(data?.data.length).toBeGreaterThan(0);
    for (const pack of data?.data ?? []) expect(Number.isInteger(pack.credits)).toBe(true);
  });

  it('lists the models with integer prices, and filters by provider', async () => {
    const all = await server.client().GET('/v1/models');
    expect(all.data?.data).toHaveLength(models.length);
    for (const model of all.data?.data ?? []) {
      for (const price of Object.values(model.pricing)) expect(Number.isInteger(price)).toBe(true);
    }
    const offline = await server.client().GET('/v1/models', { params: { query: { provider: 'offline' } } });
    expect(offline.data?.data.every((m) => m.provider === 'offline')).toBe(true);
    expect(offline.data?.data.length).toBeGreaterThan(0);
  });

  it('marks every model available when every provider is configured', async () => {
    const { data } = await server.client().GET('/v1/models');
    expect(data?.data.map((m) => m.available)).toEqual(models.map(() => true));
  });

  it('marks the models of unconfigured providers unavailable', async () => {
    const offlineOnly = await startTestServer({ providers: ['offline'] });
    try {
      const { data } = await offlineOnly.client().GET('/v1/models');
      expect(data?.data.map((m) => [m.id, m.available])).toEqual(models.map((m) => [m.id, m.provider === 'offline']));
      const anthropic = await offlineOnly.client().GET('/v1/models', { params: { query: { provider: 'anthropic' } } });
      expect(anthropic.data?.data.length).toBeGreaterThan(0);
      expect(anthropic.data?.data.every((m) => m.provider === 'anthropic' && !m.available)).toBe(true);
    } finally {
      await offlineOnly.close();
    }
  });

  it("computes a deployment's answer once and serves it frozen", () => {
    const providers = new Set(['offline', 'openai']);
    const answer = listModels(providers);
    expect(listModels(providers)).toBe(answer);
    expect(Object.isFrozen(answer) && Object.isFrozen(answer[0])).toBe(true);
    expect(listModels(providers, 'openai').every((m) => m.available)).toBe(true);
    expect(listModels(providers, 'anthropic').some((m) => m.available)).toBe(false);
  });

  it('names the field when a query parameter is invalid', async () => {
    const { error, response } = await server.client().GET('/v1/models', { params: { query: { provider: 'mistral' as never } } });
    expect(response.status).toBe(400);
    expect(error?.error.code).toBe('VALIDATION_ERROR');
    expect(error?.error.details?.[0]?.field).toBe('query.provider');
  });
});

describe('the contract itself', () => {
  it('is served as JSON and YAML', async () => {
    const json = await fetch(`${server.baseUrl}/v1/openapi.json`);
    expect(json.status).toBe(200);
    expect(((await json.json()) as { openapi: string }).openapi).toBe('3.1.0');
    const yaml = await fetch(`${server.baseUrl}/v1/openapi.yaml`);
    expect(yaml.headers.get('content-type')).toContain('application/yaml');
    expect(await yaml.text()).toContain('openapi: 3.1.0');
  });
});

describe('listTools', () => {
  it('lists every built-in tool an agent file gets, each with an input schema that validates calls', async () => {
    const { data, response } = await server.client().GET('/v1/tools');
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('public, max-age=3600, stale-while-revalidate=86400');
    const tools = data!.data;
    const names = tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining([...knownTools, 'MultiEdit', 'LS']));
    expect(new Set(names).size).toBe(names.length);
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats.default(ajv);
    const validators = Object.fromEntries(tools.map((t) => [t.name, ajv.compile(t.inputSchema)]));
    expect(validators.Read!({ file_path: 'src/index.ts', offset: 1, limit: 20 })).toBe(true);
    expect(validators.Read!({ path: 'src/index.ts' })).toBe(false);
    expect(validators.Edit!({ file_path: 'a.ts', old_string: 'x', new_string: 'y' })).toBe(true);
    expect(validators.Bash!({ command: '' })).toBe(false);
    expect(validators.TodoWrite!({ todos: [{ content: 'Write tests', status: 'pending' }] })).toBe(true);
    expect(tools.filter((t) => t.writes).map((t) => t.name)).toEqual(['Write', 'Edit', 'MultiEdit', 'Bash', 'NotebookEdit']);
  });
});
