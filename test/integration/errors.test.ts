// Whatever a client sends, the answer is an envelope with a stable code, never a 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createApp } from '../../src/http/app.js';
import { mintAccessToken } from '../../src/services/identity.js';
import { contractOperations, contractProblems, exampleRequest } from '../support/contract.js';
import { startTestServer, testJwtSecret, type TestServer } from '../support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ maxBodyBytes: 64 * 1024 });
});
afterAll(() => server.close());

const orgs = '/v1/organizations';

async function call(method: string, path: string, init: { body?: RequestInit['body']; headers?: Record<string, string> } = {}) {
  const response = await fetch(`${server.baseUrl}${path}`, { method, ...init });
  const text = await response.text();
  return {
    response,
    body: text
      ? (JSON.parse(text) as { success: boolean; error: { code: string; details?: { field: string }[]; requestId: string } })
      : undefined,
  };
}

describe('error envelope', () => {
  it('answers an unknown route with 404 NOT_FOUND', async () => {
    const { response, body } = await call('GET', '/v1/nothing-here');
    expect(response.status).toBe(404);
    expect(body?.success).toBe(false);
    expect(body?.error.code).toBe('NOT_FOUND');
    expect(body?.error.requestId).toBe(response.headers.get('x-request-id'));
  });

  it('answers a wrong method with 405 and an Allow header', async () => {
    const { response, body } = await call('DELETE', '/v1/plans');
    expect(response.status).toBe(405);
    expect(body?.error.code).toBe('METHOD_NOT_ALLOWED');
    expect(response.headers.get('allow')).toBe('GET');
  });

  it('answers malformed JSON with 400 naming the body, without echoing it', async () => {
    const { response, body } = await call('POST', orgs, {
      body: '{"name": "secret-value",',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expect(body?.error.code).toBe('VALIDATION_ERROR');
    expect(body?.error.details?.[0]?.field).toBe('body');
    expect(JSON.stringify(body)).not.toContain('secret-value');
  });

  it('answers a wrong content type with 415', async () => {
    const { response, body } = await call('POST', orgs, {
      body: 'name=acme',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(response.status).toBe(415);
    expect(body?.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers a missing content type with 415', async () => {
    const { response } = await call('POST', orgs, { body: new Uint8Array(Buffer.from('{"name":"a"}')) });
    expect(response.status).toBe(415);
  });

  it('answers an oversized body with 413', async () => {
    const { response, body } = await call('POST', orgs, {
      body: JSON.stringify({ name: 'x'.repeat(70 * 1024) }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(response.status).toBe(413);
    expect(body?.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers a preflight request with the CORS headers', async () => {
    const response = await fetch(`${server.baseUrl}/v1/plans`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'GET' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-headers')).toContain('Authorization');
  });

  it('names the field for NUL in text, a path that is not UTF-8 and a query parameter the operation lacks', async () => {
    const token = await mintAccessToken({ secret: testJwtSecret, userId: crypto.randomUUID(), email: 'nul@example.com' });
    const json = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
    const cases: [string, string, RequestInit | undefined, { field: string; message: string }][] = [
      [
        'POST',
        orgs,
        { body: JSON.stringify({ name: 'a\u0000b' }), headers: json },
        { field: 'body.name', message: 'must not contain NUL characters' },
      ],
      [
        'POST',
        `${orgs}/${crypto.randomUUID()}/tasks`,
        { body: JSON.stringify({ employeeId: crypto.randomUUID(), input: 'x\u0000' }), headers: json },
        { field: 'body.input', message: 'must not contain NUL characters' },
      ],
      [
        'POST',
        `${orgs}/${crypto.randomUUID()}/employees/import`,
        { body: '---\nname: a\u0000\n---\nx', headers: { ...json, 'Content-Type': 'text/markdown' } },
        { field: 'body', message: 'must not contain NUL characters' },
      ],
      ['GET', '/v1/models?provider=%00', undefined, { field: 'query', message: 'must not contain NUL characters' }],
      ['GET', '/v1/organizations/%ff%fe/usage', undefined, { field: 'path', message: 'is not valid percent-encoding' }],
      ['GET', '/v1/health?verbose=1', undefined, { field: 'query.verbose', message: 'is not a parameter of this operation' }],
    ];
    for (const [method, path, init, detail] of cases) {
      const { response, body } = await call(method, path, init as never);
      expect(response.status, `${method} ${path}`).toBe(400);
      expect(body?.error.code).toBe('VALIDATION_ERROR');
      expect(body?.error.details, `${method} ${path}`).toContainEqual(detail);
    }
  });

  it('reads a markdown body as markdown even when it is JSON, bounds YAML aliases, and range-checks dates', async () => {
    const token = await mintAccessToken({ secret: testJwtSecret, userId: crypto.randomUUID(), email: 'shapes@example.com' });
    const auth = { Authorization: `Bearer ${token}` };
    const importPath = `${orgs}/${crypto.randomUUID()}/employees/import`;
    for (const body of ['{"a":1}', '123', 'null']) {
      const { response, body: answer } = await call('POST', importPath, { body, headers: { ...auth, 'Content-Type': 'text/markdown' } });
      expect(response.status, body).toBe(400);
      expect(answer?.error.details?.[0]?.field).toBe('frontMatter');
    }
    const level = (name: string, of: string) => `${name}: &${name} [${Array(9).fill(`*${of}`).join(', ')}]`;
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x]',
      level('b', 'a'),
      level('c', 'b'),
      level('d', 'c'),
      level('e', 'd'),
      level('f', 'e'),
      'name: bomb',
    ].join('\n');
    const exploded = await call('POST', importPath, {
      body: `---\n${bomb}\n---\nHi.`,
      headers: { ...auth, 'Content-Type': 'text/markdown' },
    });
    expect(exploded.response.status).toBe(400);
    expect(exploded.body?.error.details?.[0]).toEqual({ field: 'frontMatter', message: 'uses more than 50 YAML aliases' });
    const usage = (query: string) => call('GET', `${orgs}/${crypto.randomUUID()}/usage?${query}`, { headers: auth });
    expect((await usage('from=0000-01-01&to=0000-01-02')).body?.error.details?.[0]?.field).toBe('query.from');
    expect((await usage('from=9999-12-31&to=9999-12-31')).body?.error.details?.[0]?.field).toBe('query.to');
  });

  it('refuses a forged cursor and unpaired surrogates with 400, and ignores a body where none is taken', async () => {
    const token = await mintAccessToken({ secret: testJwtSecret, userId: crypto.randomUUID(), email: 'edges@example.com' });
    const auth = { Authorization: `Bearer ${token}` };
    for (const t of ['1', '0', '2026-02-30T00:00:00Z', '0000-01-01T00:00:00Z']) {
      const cursor = Buffer.from(JSON.stringify({ t, i: '00000000-0000-0000-0000-000000000000' })).toString('base64url');
      const { response, body } = await call('GET', `${orgs}?cursor=${cursor}`, { headers: auth });
      expect(response.status, t).toBe(400);
      expect(body?.error.details?.[0]?.field).toBe('query.cursor');
    }
    const surrogate = await call('POST', orgs, { body: '{"name":"a\\ud800"}', headers: { ...auth, 'Content-Type': 'application/json' } });
    expect(surrogate.response.status).toBe(400);
    expect(surrogate.body?.error.details).toEqual([{ field: 'body.name', message: 'must be valid Unicode (no unpaired surrogate)' }]);
    // No database behind this server: reaching the handler (503), not 413, shows the body was ignored.
    const ignored = await call('DELETE', `${orgs}/${crypto.randomUUID()}`, { body: 'x'.repeat(70 * 1024), headers: auth });
    expect(ignored.response.status).toBe(503);
  });

  it('asks for credentials before judging what a body says, and after reading its bytes', async () => {
    const token = await mintAccessToken({ secret: testJwtSecret, userId: crypto.randomUUID(), email: 'order@example.com' });
    const json = { 'Content-Type': 'application/json' };
    const importPath = `${orgs}/${crypto.randomUUID()}/employees/import`;
    const sayings: [string, string, RequestInit, { field: string; message: string }][] = [
      [
        'POST',
        orgs,
        { body: '{"name":"a\\ud800"}', headers: json },
        { field: 'body.name', message: 'must be valid Unicode (no unpaired surrogate)' },
      ],
      [
        'POST',
        orgs,
        { body: '{"name":"a\\udc00b"}', headers: json },
        { field: 'body.name', message: 'must be valid Unicode (no unpaired surrogate)' },
      ],
      ['POST', orgs, { body: '{"name":"a\\u0000"}', headers: json }, { field: 'body.name', message: 'must not contain NUL characters' }],
      ['POST', orgs, { body: '{"name":1}', headers: json }, { field: 'body.name', message: 'must be string' }],
      ['POST', orgs, { headers: json }, { field: 'body', message: 'is required' }],
      [
        'POST',
        importPath,
        { body: '---\nname: a\u0000\n---\nx', headers: { 'Content-Type': 'text/markdown' } },
        { field: 'body', message: 'must not contain NUL characters' },
      ],
    ];
    for (const [method, path, init, detail] of sayings) {
      const stranger = await call(method, path, init as never);
      expect(stranger.response.status, `${detail.field} ${detail.message}, unauthenticated`).toBe(401);
      expect(stranger.body?.error.code).toBe('UNAUTHENTICATED');
      const signedIn = await call(method, path, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), Authorization: `Bearer ${token}` },
      } as never);
      expect(signedIn.response.status, `${detail.field} ${detail.message}, signed in`).toBe(400);
      expect(signedIn.body?.error.details).toContainEqual(detail);
    }
    // Reading the bytes comes first: too many, of a media type not taken, or not JSON at all.
    const unread: [RequestInit, number][] = [
      [{ body: JSON.stringify({ name: 'x'.repeat(70 * 1024) }), headers: json }, 413],
      [{ body: 'name=a', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }, 415],
      [{ body: '{"name":"a\\ud800"', headers: json }, 400],
    ];
    for (const [init, status] of unread) expect((await call('POST', orgs, init as never)).response.status).toBe(status);
  });

  it('survives hostile inputs without a 500', async () => {
    const attempts: [string, string, RequestInit?][] = [
      ['GET', '/v1/models?provider=%00'],
      ['GET', '/v1/models?provider[]=a&provider[]=b'],
      ['GET', '/v1/%E0%A4%A'],
      ['GET', '/v1/organizations/not-a-uuid'],
      ['GET', '/v1/../../etc/passwd'],
      ['POST', orgs, { body: 'null', headers: { 'Content-Type': 'application/json' } }],
      ['POST', orgs, { body: '[]', headers: { 'Content-Type': 'application/json' } }],
      ['POST', orgs, { body: '\u0000\u0001', headers: { 'Content-Type': 'application/json; charset=utf-8' } }],
      ['POST', `${orgs}/${crypto.randomUUID()}/employees/import`, { body: '{}', headers: { 'Content-Type': 'application/json' } }],
      ['PATCH', '/v1/health'],
    ];
    for (const [method, path, init] of attempts) {
      const response = await fetch(`${server.baseUrl}${path}`, { method, ...init });
      expect(response.status, `${method} ${path} answered ${response.status}`).toBeLessThan(500);
      expect(response.headers.get('x-request-id'), `${method} ${path}`).toBeTruthy();
      expect(response.headers.get('content-type')).toContain('application/json');
    }
  });
});

describe('framing', () => {
  it('sends each body with its Content-Length, in one piece, and none on a 204', async () => {
    for (const path of ['/v1/plans', '/v1/nothing-here', '/v1/organizations']) {
      const response = await fetch(`${server.baseUrl}${path}`);
      const bytes = Buffer.from(await response.arrayBuffer());
      expect(response.headers.get('content-length'), path).toBe(String(bytes.length));
      expect(response.headers.get('transfer-encoding'), path).toBeNull();
    }
    const preflight = await fetch(`${server.baseUrl}/v1/plans`, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('content-length')).toBeNull();
  });
});

describe('every secured operation', () => {
  const secured = contractOperations().filter((op) => op.responses.includes('401'));
  const expired = () =>
    mintAccessToken({
      secret: testJwtSecret,
      userId: crypto.randomUUID(),
      email: 'late@example.com',
      expiresIn: Math.floor(Date.now() / 1000) - 120,
    });
  const forged = () =>
    mintAccessToken({ secret: 'a-different-secret-a-different-secret', userId: crypto.randomUUID(), email: 'x@example.com' });

  it.each(secured)('$operationId answers 401 without credentials, with an expired and with a forged token', async (op) => {
    const request = exampleRequest(op.operationId);
    for (const [authorization, code] of [
      [undefined, 'UNAUTHENTICATED'],
      [`Bearer ${await expired()}`, 'TOKEN_EXPIRED'],
      [`Bearer ${await forged()}`, 'TOKEN_INVALID'],
    ] as const) {
      const response = await fetch(`${server.baseUrl}${request.path}`, {
        method: op.method,
        headers: { ...request.headers, ...(authorization ? { Authorization: authorization } : {}) },
        body: request.body,
      });
      const body = (await response.json()) as { error: { code: string } };
      expect([response.status, body.error.code], `${op.operationId} with ${code}`).toEqual([401, code]);
      expect(contractProblems(op.path, op.method, 401, response.headers, body)).toEqual([]);
    }
  });
});

describe('response validation', () => {
  it('turns a response the contract does not allow into a 500 that names the operation, and logs why', async () => {
    const lines: string[] = [];
    const app = await createApp({
      deps: { version: 42 as never }, // the contract says version is a string
      log: pino({ level: 'error' }, { write: (line: string) => void lines.push(line) }),
      validateResponses: true,
      maxBodyBytes: 1024,
    });
    const response = await app.handle({ method: 'GET', path: '/v1/health', query: '', headers: {}, body: undefined });
    expect(response.status).toBe(500);
    expect(JSON.parse(response.body)).toMatchObject({
      success: false,
      error: { code: 'INTERNAL', message: expect.stringContaining('getHealth') },
    });
    expect(lines.join('')).toContain('response violates the contract');
  });
});
