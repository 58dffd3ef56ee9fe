// HTTP caching and the headers every answer carries: strong ETags and 304 on the GETs of resources and pages,
// Cache-Control by kind of answer (public catalog, private tenant data, no-store for the rest), nosniff and
// no-referrer everywhere, and CORS for the origins a deployment allows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { signUp, startTestServer, type TestServer, type TestUser } from '../support/server.js';

let database: TestDatabase;
let server: TestServer;
let restricted: TestServer;
let owner: TestUser;

beforeAll(async () => {
  database = await createTestDatabase();
  server = await startTestServer({ db: database.db });
  restricted = await startTestServer({ db: database.db, corsOrigins: ['https://app.example.com'] });
  owner = await signUp(database.db, 'cache@example.com');
});
afterAll(async () => {
  await server.close();
  await restricted.close();
  await database.drop();
});

const bearer = () => ({ Authorization: `Bearer ${owner.token}` });
const get = (path: string, headers: Record<string, string> = {}, base = server.baseUrl) => fetch(`${base}${path}`, { headers });

describe('ETag and If-None-Match', () => {
  it('answers the public catalog with an ETag and 304 when the client holds it', async () => {
    const first = await get('/v1/plans');
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(first.headers.get('cache-control')).toBe('public, max-age=3600, stale-while-revalidate=86400');

    const again = await get('/v1/plans', { 'If-None-Match': etag });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    expect(again.headers.get('etag')).toBe(etag);
    expect(again.headers.get('cache-control')).toBe(first.headers.get('cache-control'));
    expect(again.headers.get('x-request-id')).toBeTruthy();
    // A list of tags, a weak form of the current one, or `*`, match; another tag does not.
    expect((await get('/v1/plans', { 'If-None-Match': `"other", W/${etag}` })).status).toBe(304);
    expect((await get('/v1/plans', { 'If-None-Match': '*' })).status).toBe(304);
    expect((await get('/v1/plans', { 'If-None-Match': '"other"' })).status).toBe(200);
  });

  it('validates tenant data by its ETag, privately, and changes the tag when the resource changes', async () => {
    const client = server.client({ accessToken: owner.token });
    const org = (await client.POST('/v1/organizations', { body: { name: 'Cached' } })).data!.data;
    const path = `/v1/organizations/${org.id}`;
    const first = await get(path, bearer());
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('private, no-cache');
    const etag = first.headers.get('etag')!;
    expect((await get(path, { ...bearer(), 'If-None-Match': etag })).status).toBe(304);

    await client.PATCH('/v1/organizations/{orgId}', { params: { path: { orgId: org.id } }, body: { name: 'Renamed' } });
    const changed = await get(path, { ...bearer(), 'If-None-Match': etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(((await changed.json()) as { data: { name: string } }).data.name).toBe('Renamed');

    // A page is a representation too.
    const page = await get('/v1/organizations', bearer());
    expect((await get('/v1/organizations', { ...bearer(), 'If-None-Match': page.headers.get('etag')! })).status).toBe(304);
  });

  it('serves the docs page with an ETag', async () => {
    const first = await get('/docs');
    expect(first.status).toBe(200);
    expect(await first.text()).toContain('docs');
    expect(first.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src /);
    // As a browser revalidates its copy: without a Cache-Control of its own, fetch adds `no-cache` (a reload,
    // which express rightly answers in full).
    const again = await get('/docs', { 'If-None-Match': first.headers.get('etag')!, 'Cache-Control': 'max-age=0' });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  it('answers the contract with an ETag, cacheable for a while', async () => {
    const first = await get('/v1/openapi.json');
    expect(first.headers.get('cache-control')).toBe('public, max-age=300, stale-while-revalidate=86400');
    expect((await get('/v1/openapi.json', { 'If-None-Match': first.headers.get('etag')! })).status).toBe(304);
  });
});

describe('Cache-Control', () => {
  it('is no-store on anything that is not a GET of a resource: secrets, errors, health', async () => {
    const client = server.client({ accessToken: owner.token });
    const org = (await client.POST('/v1/organizations', { body: { name: 'Keys' } })).data!.data;
    const created = await fetch(`${server.baseUrl}/v1/organizations/${org.id}/api-keys`, {
      method: 'POST',
      headers: { ...bearer(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'ci' }),
    });
    expect(created.status).toBe(201);
    expect(((await created.json()) as { data: { secret: string } }).data.secret).toMatch(/^sk_live_/);
    expect(created.headers.get('cache-control')).toBe('no-store');
    expect(created.headers.get('etag')).toBeNull();

    const missing = await get(`/v1/organizations/${crypto.randomUUID()}`, bearer());
    expect(missing.status).toBe(404);
    expect(missing.headers.get('cache-control')).toBe('no-store');
    expect(missing.headers.get('etag')).toBeNull();

    const health = await get('/v1/health');
    expect(health.headers.get('cache-control')).toBe('no-store');
    expect(health.headers.get('etag')).toBeNull();
  });
});

describe('headers on every answer', () => {
  it('carries nosniff and no-referrer, on success and on error', async () => {
    for (const response of [await get('/v1/plans'), await get('/v1/nothing-here'), await get('/v1/me')]) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it('answers CORS only to browsers, for any origin by default', async () => {
    expect((await get('/v1/plans')).headers.get('access-control-allow-origin')).toBeNull();
    const browser = await get('/v1/plans', { Origin: 'https://anything.example' });
    expect(browser.headers.get('access-control-allow-origin')).toBe('*');
    expect(browser.headers.get('access-control-expose-headers')).toContain('ETag');
  });

  it('answers CORS only to the origins CORS_ORIGINS lists, and says the answer varies by origin', async () => {
    const allowed = await get('/v1/plans', { Origin: 'https://app.example.com' }, restricted.baseUrl);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(allowed.headers.get('vary')).toBe('Origin');
    const other = await get('/v1/plans', { Origin: 'https://evil.example' }, restricted.baseUrl);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.headers.get('vary')).toBe('Origin');
    const preflight = await fetch(`${restricted.baseUrl}/v1/plans`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('If-Match on a PATCH', () => {
  const patch = (path: string, body: unknown, ifMatch?: string) =>
    fetch(`${server.baseUrl}${path}`, {
      method: 'PATCH',
      headers: { ...bearer(), 'Content-Type': 'application/json', ...(ifMatch ? { 'If-Match': ifMatch } : {}) },
      body: JSON.stringify(body),
    });

  it('changes the resource only while the client holds its current version, else 412 and nothing changes', async () => {
    const client = server.client({ accessToken: owner.token });
    const org = (await client.POST('/v1/organizations', { body: { name: 'Guarded' } })).data!.data;
    const path = `/v1/organizations/${org.id}`;
    const read = (await get(path, bearer())).headers.get('etag')!;

    const first = await patch(path, { name: 'First edit' }, read);
    expect(first.status).toBe(200);
    const afterFirst = first.headers.get('etag');
    expect(afterFirst).toBeNull(); // a PATCH answer is not cached; GET gives the new tag
    const stale = await patch(path, { name: 'Lost edit' }, read);
    expect(stale.status).toBe(412);
    expect(await stale.json()).toMatchObject({ error: { code: 'PRECONDITION_FAILED', details: [{ field: 'header.If-Match' }] } });
    expect(((await (await get(path, bearer())).json()) as { data: { name: string } }).data.name).toBe('First edit');

    const current = (await get(path, bearer())).headers.get('etag')!;
    expect((await patch(path, { name: 'Second edit' }, current)).status).toBe(200);
    expect((await patch(path, { name: 'Any version' }, '*')).status).toBe(200);
  });

  it('lets one of two edits made from the same version through, never both', async () => {
    const client = server.client({ accessToken: owner.token });
    const org = (await client.POST('/v1/organizations', { body: { name: 'Raced' } })).data!.data;
    const employee = (
      await client.POST('/v1/organizations/{orgId}/employees', {
        params: { path: { orgId: org.id } },
        body: { name: 'Edited', instructions: 'Work.' },
      })
    ).data!.data;
    const path = `/v1/organizations/${org.id}/employees/${employee.id}`;
    const read = (await get(path, bearer())).headers.get('etag')!;
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => patch(path, { instructions: `Edit ${i}.` }, read).then((r) => r.status)),
    );
    expect(results.filter((status) => status === 200)).toHaveLength(1);
    expect(results.every((status) => [200, 409, 412].includes(status))).toBe(true);
  });
});
