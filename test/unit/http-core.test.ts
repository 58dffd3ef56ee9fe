// The core without a database: the request deadline, validators compiled at run time answering exactly
// as the ones `npm run gen` compiled, and the one access line per request.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createApp, type AppOptions } from '../../src/http/app.js';
import { contract } from '../../src/http/contract.js';
import { handlers } from '../../src/handlers/index.js';
import type { HttpRequest } from '../../src/http/types.js';
import { stub, stubHeader } from '../../src/http/stub.js';
import { createContractBackend } from '../../src/http/backend.js';
import { operationsOf } from '../../src/http/contract.js';

const userId = '0f8fad5b-d9cb-469f-a165-70867728950e';
const deps: AppOptions['deps'] = {
  version: '1.0.0',
  verifyAccessToken: async () => ({ userId, email: 'a@example.com', name: null, claims: { sub: userId, exp: 2_000_000_000 } }),
};
const silent = pino({ level: 'silent' });

function request(method: string, path: string, options: { query?: string; body?: unknown } = {}): HttpRequest {
  return {
    method,
    path,
    query: options.query ?? '',
    headers: {
      authorization: 'Bearer a.b.c',
      'x-request-id': 'fixed-id',
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body)),
  };
}

describe('the request deadline', () => {
  it('answers 503 with Retry-After when a handler outlives it, and serves the next request as usual', async () => {
    const app = await createApp({
      deps,
      log: silent,
      validateResponses: true,
      maxBodyBytes: 1024,
      requestTimeoutMs: 50,
      handlers: { ...(handlers as unknown as NonNullable<AppOptions['handlers']>), getCurrentUser: () => new Promise(() => undefined) },
    });
    const late = await app.handle(request('GET', '/v1/me'));
    expect(late.status).toBe(503);
    expect(late.headers['Retry-After']).toBe('2');
    expect(JSON.parse(late.body)).toMatchObject({ success: false, error: { code: 'UNAVAILABLE', requestId: 'fixed-id' } });
    expect((await app.handle(request('GET', '/v1/plans'))).status).toBe(200);
  });
});

describe('validators compiled at run time', () => {
  it('answer every request exactly as the ones compiled ahead of time', async () => {
    const options = { deps, log: silent, validateResponses: true, maxBodyBytes: 1024 };
    const ahead = await createApp(options);
    // Handing the contract in makes the app compile its own validators (as for the bench's padded contract).
    const atRunTime = await createApp({ ...options, contract: structuredClone(contract) });
    const requests = [
      request('GET', '/v1/plans', { query: 'x=1' }),
      request('GET', '/v1/models', { query: 'provider=nope' }),
      request('GET', '/v1/models', { query: 'provider=openai' }),
      request('GET', '/v1/organizations', { query: 'limit=0&includeDeleted=maybe' }),
      request('GET', '/v1/organizations/not-a-uuid'),
      request('POST', '/v1/organizations', { body: { name: '', extra: 1 } }),
      request('POST', '/v1/organizations', { body: 'x' }),
      request('GET', '/v1/organizations/0f8fad5b-d9cb-469f-a165-70867728950e/usage', { query: 'from=2026-02-30' }),
    ];
    for (const each of requests) {
      const [a, b] = [await ahead.handle(each), await atRunTime.handle(each)];
      expect(b, `${each.method} ${each.path}?${each.query}`).toEqual(a);
    }
    const answers = await Promise.all(requests.slice(0, 6).map((each) => ahead.handle(each)));
    expect(answers.map((answer) => answer.status)).toEqual([400, 400, 200, 400, 400, 400]);
  });
});

describe('the access line', () => {
  it('is one line per request with its id, route, operation, status, caller and duration', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info', base: { service: 'staffroom' } }, { write: (line: string) => void lines.push(line) });
    const app = await createApp({ deps, log, validateResponses: false, maxBodyBytes: 1024 });
    await app.handle(request('GET', '/v1/plans'));
    await app.handle({ ...request('GET', '/v1/organizations'), headers: { 'x-request-id': 'anonymous' } });
    await app.handle({ ...request('GET', '/v1/me'), headers: { authorization: 'Bearer a.b.c', 'x-request-id': 'signed-in' } });
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === 'request');
    expect(entries).toEqual([
      expect.objectContaining({
        level: 30,
        service: 'staffroom',
        requestId: 'fixed-id',
        method: 'GET',
        path: '/v1/plans',
        operationId: 'listPlans',
        status: 200,
      }),
      expect.objectContaining({ requestId: 'anonymous', operationId: 'listOrganizations', status: 401 }),
      // No database here: the signed-in call answers 503, and the line names its caller.
      expect.objectContaining({ requestId: 'signed-in', operationId: 'getCurrentUser', status: 503, callerId: userId }),
    ]);
    expect(entries[0]!.durationMs).toEqual(expect.any(Number));
    expect(entries[1]).not.toHaveProperty('callerId');
  });
});

describe('deprecation, driven by the contract', () => {
  const options = { deps, log: silent, validateResponses: true, maxBodyBytes: 1024 };

  it('answers a deprecated operation with Deprecation, Sunset and a Link to the changelog, and others without', async () => {
    const document = structuredClone(contract);
    Object.assign(document.paths['/v1/plans']!.get as object, {
      deprecated: true,
      'x-deprecated-since': '2026-12-01T00:00:00Z',
      'x-sunset': '2027-06-30T23:59:59Z',
    });
    Object.assign(document.paths['/v1/credit-packs']!.get as object, { deprecated: true, 'x-deprecated-since': '2026-12-01T00:00:00Z' });
    const app = await createApp({ ...options, contract: document });

    const plans = await app.handle(request('GET', '/v1/plans'));
    expect(plans.status).toBe(200);
    expect(plans.headers.Deprecation).toBe(`@${Date.parse('2026-12-01T00:00:00Z') / 1000}`);
    expect(plans.headers.Sunset).toBe('Wed, 30 Jun 2027 23:59:59 GMT');
    expect(plans.headers.Link).toBe(
      '</v1/changelog>; rel="deprecation"; type="text/markdown", </v1/changelog>; rel="sunset"; type="text/markdown"',
    );

    const packs = await app.handle(request('GET', '/v1/credit-packs'));
    expect(packs.headers.Deprecation).toBeDefined();
    expect(packs.headers.Sunset).toBeUndefined();
    expect((await app.handle(request('GET', '/v1/models'))).headers.Deprecation).toBeUndefined();
  });

  it('tells a request that sends a deprecated parameter or body field, and no other', async () => {
    type Node = Record<string, Record<string, { properties: Record<string, object> } & Record<string, unknown>>>;
    const document = structuredClone(contract) as unknown as { paths: Node; components: { schemas: Node[string] } };
    const models = document.paths['/v1/models']!.get!;
    models.parameters = (models.parameters as { name?: string }[]).map((p) =>
      p.name === 'provider' ? { ...p, deprecated: true, 'x-deprecated-since': '2026-11-01T00:00:00Z' } : p,
    );
    const create = document.components.schemas.OrganizationCreate!;
    create.properties.defaultModel = { ...create.properties.defaultModel, deprecated: true, 'x-deprecated-since': '2026-10-01T00:00:00Z' };
    const app = await createApp({ ...options, contract: document as never });

    const filtered = await app.handle(request('GET', '/v1/models', { query: 'provider=openai' }));
    expect(filtered.status).toBe(200);
    expect(filtered.headers.Deprecation).toBe(`@${Date.parse('2026-11-01T00:00:00Z') / 1000}`);
    expect((await app.handle(request('GET', '/v1/models'))).headers.Deprecation).toBeUndefined();

    const withField = await app.handle(request('POST', '/v1/organizations', { body: { name: 'Old', defaultModel: 'offline-small' } }));
    expect(withField.headers.Deprecation).toBe(`@${Date.parse('2026-10-01T00:00:00Z') / 1000}`);
    expect((await app.handle(request('POST', '/v1/organizations', { body: { name: 'New' } }))).headers.Deprecation).toBeUndefined();
  });

  it('refuses a contract whose deprecated operation does not say since when', async () => {
    const document = structuredClone(contract);
    Object.assign(document.paths['/v1/plans']!.get as object, { deprecated: true });
    await expect(createApp({ ...options, contract: document })).rejects.toThrow(
      /listPlans is deprecated: give it an x-deprecated-since date/,
    );
  });

  it('serves the changelog that the Link points at', async () => {
    const app = await createApp(options);
    const response = await app.handle(request('GET', '/v1/changelog'));
    expect(response.status).toBe(200);
    expect(response.headers['Content-Type']).toBe('text/markdown; charset=utf-8');
    expect(response.body).toContain(`## ${contract.info.version}`);
  });
});

describe('a generated stub', () => {
  it("answers the contract's example for its success response, validated as the real handler's would be, and says it is a stub", async () => {
    const app = await createApp({
      deps,
      log: silent,
      validateResponses: true,
      maxBodyBytes: 1024,
      handlers: { ...(handlers as unknown as NonNullable<AppOptions['handlers']>), listModels: stub('listModels') as never },
    });
    const stubbed = await app.handle(request('GET', '/v1/models'));
    expect(stubbed.status).toBe(200);
    expect(stubbed.headers[stubHeader]).toBe('true');
    const backend = await createContractBackend(contract, operationsOf(contract), { checkResponses: true });
    const listModels = operationsOf(contract).find((operation) => operation.operationId === 'listModels')!;
    expect(JSON.parse(stubbed.body)).toEqual(backend.mockResponse(listModels).body);
    expect(JSON.parse(stubbed.body)).toMatchObject({ success: true });
    // Requests are still routed and validated before the stub answers.
    expect((await app.handle(request('GET', '/v1/models', { query: 'provider=nope' }))).status).toBe(400);
    // The other operations keep their handlers.
    expect((await app.handle(request('GET', '/v1/plans'))).headers[stubHeader]).toBeUndefined();
  });
});
