// Organizations over HTTP through the SDK, on a real database with RLS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { generateApiKeySecret, hashSecret } from '../../src/services/api-keys.js';
import { mintAccessToken } from '../../src/services/identity.js';
import postgres from 'postgres';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { signUp, startTestServer, testJwtSecret, type TestServer, type TestUser } from '../support/server.js';

let database: TestDatabase;
let server: TestServer;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  database = await createTestDatabase();
  server = await startTestServer({ db: database.db });
  alice = await signUp(database.db, 'alice@example.com', { name: 'Alice Martin' });
  bob = await signUp(database.db, 'bob@example.com');
});
afterAll(async () => {
  await server.close();
  await database.drop();
});

const as = (user: TestUser) => server.client({ accessToken: user.token });

async function createOrg(user: TestUser, name: string, slug?: string) {
  const { data, error, response } = await as(user).POST('/v1/organizations', { body: { name, ...(slug ? { slug } : {}) } });
  if (!data) throw new Error(`createOrganization failed: ${response.status} ${JSON.stringify(error)}`);
  return data.data;
}

describe('createOrganization', () => {
  it('makes the caller owner, derives the slug and points Location at it', async () => {
    const { data, response } = await as(alice).POST('/v1/organizations', { body: { name: 'Ünïcode & Co.' } });
    expect(response.status).toBe(201);
    expect(data?.data).toMatchObject({ name: 'Ünïcode & Co.', slug: 'unicode-co', role: 'owner', planId: 'free', deletedAt: null });
    expect(response.headers.get('location')).toBe(`/v1/organizations/${data?.data.id}`);
    const me = await as(alice).GET('/v1/me');
    expect(me.data?.data.profile).toMatchObject({ email: 'alice@example.com', name: 'Alice Martin' });
    expect(me.data?.data.memberships.map((m) => m.organization.slug)).toContain('unicode-co');
    expect(me.data?.data.hasMoreMemberships).toBe(false);
  });

  it('answers 409 naming body.slug when the slug is taken', async () => {
    await createOrg(alice, 'Taken', 'taken');
    const { error, response } = await as(bob).POST('/v1/organizations', { body: { name: 'Other', slug: 'taken' } });
    expect(response.status).toBe(409);
    expect(error?.error).toMatchObject({ code: 'SLUG_TAKEN', details: [{ field: 'body.slug' }] });
  });

  it('names the invalid field', async () => {
    const empty = await as(alice).POST('/v1/organizations', { body: { name: '' } });
    expect(empty.response.status).toBe(400);
    expect(empty.error?.error.details?.[0]?.field).toBe('body.name');
    const model = await as(alice).POST('/v1/organizations', { body: { name: 'M', defaultModel: 'gpt-9' } });
    expect(model.error?.error.details?.[0]?.field).toBe('body.defaultModel');
    const unknown = await as(alice).POST('/v1/organizations', { body: { name: 'U', colour: 'red' } as never });
    expect(unknown.error?.error.details?.[0]).toEqual({ field: 'body.colour', message: 'is not a known property' });
    const badSlug = await as(alice).POST('/v1/organizations', { body: { name: 'S', slug: 'Not A Slug' } });
    expect(badSlug.error?.error.details?.[0]?.field).toBe('body.slug');
  });
});

describe('authentication', () => {
  const tokenWith = (claims: { exp?: number; aud?: string; secret?: string; iss?: string }) =>
    new SignJWT({ email: alice.email, role: 'authenticated' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(alice.id)
      .setAudience(claims.aud ?? 'authenticated')
      .setIssuer(claims.iss ?? 'staffroom-local')
      .setIssuedAt()
      .setExpirationTime(claims.exp ?? '1h')
      .sign(new TextEncoder().encode(claims.secret ?? testJwtSecret));

  it.each([
    ['no credentials', undefined, 'UNAUTHENTICATED'],
    ['an expired token', () => tokenWith({ exp: Math.floor(Date.now() / 1000) - 60 }), 'TOKEN_EXPIRED'],
    ['a forged token', () => tokenWith({ secret: 'not-the-secret-not-the-secret-not-the-secret' }), 'TOKEN_INVALID'],
    ['a wrong audience', () => tokenWith({ aud: 'anon' }), 'TOKEN_INVALID'],
    ['a wrong issuer', () => tokenWith({ iss: 'https://evil.example.com' }), 'TOKEN_INVALID'],
    ['a malformed token', async () => 'not.a.jwt', 'TOKEN_INVALID'],
  ])('refuses %s with 401 %s', async (_label, makeToken, code) => {
    const client = server.client(makeToken ? { accessToken: await makeToken() } : {});
    const { error, response } = await client.GET('/v1/organizations');
    expect(response.status).toBe(401);
    expect(error?.error.code).toBe(code);
  });

  it('refuses a valid token for a user that does not exist', async () => {
    const token = await mintAccessToken({ secret: testJwtSecret, userId: crypto.randomUUID(), email: 'ghost@example.com' });
    const { response, error } = await server.client({ accessToken: token }).GET('/v1/me');
    expect(response.status).toBe(401);
    expect(error?.error.code).toBe('TOKEN_INVALID');
  });
});

describe('tenancy', () => {
  it("answers 404 for another tenant's organization and lists only one's own", async () => {
    const org = await createOrg(alice, 'Private');
    const { response, error } = await as(bob).GET('/v1/organizations/{orgId}', { params: { path: { orgId: org.id } } });
    expect(response.status).toBe(404);
    expect(error?.error.code).toBe('NOT_FOUND');
    const patched = await as(bob).PATCH('/v1/organizations/{orgId}', { params: { path: { orgId: org.id } }, body: { name: 'Mine' } });
    expect(patched.response.status).toBe(404);
    const list = await as(bob).GET('/v1/organizations');
    expect(list.data?.data.map((o) => o.id)).not.toContain(org.id);
  });

  it('lets a member read but not change or delete (403)', async () => {
    const org = await createOrg(alice, 'Shared');
    await database.db`insert into staffroom.profiles (id, email) values (${bob.id}, ${bob.email}) on conflict do nothing`;
    await database.db`insert into staffroom.memberships (organization_id, user_id, role) values (${org.id}, ${bob.id}, 'member')`;
    const read = await as(bob).GET('/v1/organizations/{orgId}', { params: { path: { orgId: org.id } } });
    expect(read.data?.data.role).toBe('member');
    const patched = await as(bob).PATCH('/v1/organizations/{orgId}', { params: { path: { orgId: org.id } }, body: { name: 'Mine' } });
    expect(patched.response.status).toBe(403);
    const deleted = await as(bob).DELETE('/v1/organizations/{orgId}', { params: { path: { orgId: org.id } } });
    expect(deleted.response.status).toBe(403);
  });
});

describe('updateOrganization', () => {
  it('renames and records the change in the audit trail', async () => {
    const org = await createOrg(alice, 'Before');
    const { data } = await as(alice).PATCH('/v1/organizations/{orgId}', {
      params: { path: { orgId: org.id } },
      body: { name: 'After', defaultModel: 'gpt-4o-mini' },
    });
    expect(data?.data).toMatchObject({ name: 'After', defaultModel: 'gpt-4o-mini' });
    const [event] = await database.db`select action, before, after, request_id from staffroom.audit_events
      where organization_id = ${org.id} and action = 'organization.updated'`;
    expect(event).toMatchObject({
      before: { name: 'Before', defaultModel: 'offline-small' },
      after: { name: 'After', defaultModel: 'gpt-4o-mini' },
    });
    expect(event?.request_id).toMatch(/^req_/);
  });

  it('answers 400 for an empty patch', async () => {
    const org = await createOrg(alice, 'Empty patch');
    const { response } = await as(alice).PATCH('/v1/organizations/{orgId}', { params: { path: { orgId: org.id } }, body: {} });
    expect(response.status).toBe(400);
  });
});

describe('delete and restore', () => {
  it('hides a deleted organization, lists it on request, and restores it', async () => {
    const org = await createOrg(alice, 'Ephemeral');
    const path = { params: { path: { orgId: org.id } } };
    const deleted = await as(alice).DELETE('/v1/organizations/{orgId}', path);
    expect(deleted.data?.data.deletedAt).not.toBeNull();
    expect((await as(alice).GET('/v1/organizations/{orgId}', path)).response.status).toBe(404);
    expect((await as(alice).GET('/v1/organizations')).data?.data.map((o) => o.id)).not.toContain(org.id);
    const withDeleted = await as(alice).GET('/v1/organizations', { params: { query: { includeDeleted: true, limit: 100 } } });
    expect(withDeleted.data?.data.map((o) => o.id)).toContain(org.id);
    const restored = await as(alice).POST('/v1/organizations/{orgId}/restore', path);
    expect(restored.data?.data.deletedAt).toBeNull();
    const again = await as(alice).POST('/v1/organizations/{orgId}/restore', path);
    expect(again.response.status).toBe(409);
    expect(again.error?.error.code).toBe('NOT_DELETED');
  });

  it('keeps the slug of a deleted organization for its restore, whoever wants it meanwhile', async () => {
    const org = await createOrg(alice, 'Phoenix', 'phoenix');
    await as(alice).DELETE('/v1/organizations/{orgId}', { params: { path: { orgId: org.id } } });
    const squatter = await as(bob).POST('/v1/organizations', { body: { name: 'Phoenix too', slug: 'phoenix' } });
    expect(squatter.error?.error).toMatchObject({ code: 'SLUG_TAKEN', details: [{ field: 'body.slug' }] });
    expect((await createOrg(bob, 'Phoenix')).slug).toBe('phoenix-2');
    const { data } = await as(alice).POST('/v1/organizations/{orgId}/restore', { params: { path: { orgId: org.id } } });
    expect(data?.data).toMatchObject({ slug: 'phoenix', deletedAt: null });
  });
});

describe('listOrganizations pagination', () => {
  it('pages with an opaque cursor and rejects a forged one', async () => {
    const carol = await signUp(database.db, 'carol@example.com');
    for (const name of ['One', 'Two', 'Three']) await createOrg(carol, `Carol ${name}`);
    const first = await as(carol).GET('/v1/organizations', { params: { query: { limit: 2 } } });
    expect(first.data?.data.map((o) => o.name)).toEqual(['Carol Three', 'Carol Two']);
    const cursor = first.data?.page.nextCursor;
    expect(cursor).toBeTruthy();
    const second = await as(carol).GET('/v1/organizations', { params: { query: { limit: 2, cursor: cursor! } } });
    expect(second.data?.data.map((o) => o.name)).toEqual(['Carol One']);
    expect(second.data?.page.nextCursor).toBeNull();
    const forged = await as(carol).GET('/v1/organizations', { params: { query: { cursor: 'bm90LWEtY3Vyc29y' } } });
    expect(forged.error?.error.details?.[0]?.field).toBe('query.cursor');
  });
});

describe('getCurrentUser', () => {
  it('carries at most 20 memberships in join order, says there are more, and listOrganizations pages through all', async () => {
    const dana = await signUp(database.db, 'dana@example.com');
    const joined = [];
    for (let i = 0; i < 25; i++) joined.push(await createOrg(dana, `Dana ${i}`));

    const me = (await as(dana).GET('/v1/me')).data!.data;
    expect(me.memberships).toHaveLength(20);
    expect(me.memberships.map((m) => m.organization.id)).toEqual(joined.slice(0, 20).map((o) => o.id));
    expect(me.memberships.every((m) => m.role === 'owner')).toBe(true);
    expect(me.hasMoreMemberships).toBe(true);

    const listed: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = (await as(dana).GET('/v1/organizations', { params: { query: { limit: 10, ...(cursor ? { cursor } : {}) } } })).data!;
      listed.push(...page.data.map((o) => o.id));
      cursor = page.page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(listed).toHaveLength(25);
    expect([...listed].sort()).toEqual(joined.map((o) => o.id).sort());

    // Deleted organizations are not memberships: with 20 live ones left there is nothing more.
    for (const org of joined.slice(0, 5)) await as(dana).DELETE('/v1/organizations/{orgId}', { params: { path: { orgId: org.id } } });
    const after = (await as(dana).GET('/v1/me')).data!.data;
    expect(after.memberships.map((m) => m.organization.id)).toEqual(joined.slice(5).map((o) => o.id));
    expect(after.hasMoreMemberships).toBe(false);
  });

  it('reads only the memberships of the page it answers, whatever the total', async () => {
    const erin = await signUp(database.db, 'erin@example.com');
    await as(erin).GET('/v1/me'); // makes the profile
    // Two thousand organizations are set up directly: through the API they would take most of a minute.
    await database.db`
      with orgs as (
        insert into staffroom.organizations (name, slug, default_model, created_by, created_at)
        select 'Erin ' || n, 'erin-' || n, 'offline-small', ${erin.id}, now() - make_interval(secs => n)
        from generate_series(1, 2000) n returning id, created_at)
      insert into staffroom.memberships (organization_id, user_id, role, created_at) select id, ${erin.id}, 'owner', created_at from orgs`;
    await database.db`analyze staffroom.memberships`;
    await database.db`analyze staffroom.organizations`;
    const claims = JSON.stringify({ sub: erin.id, role: 'authenticated', email: 'erin@example.com', exp: 2_000_000_000 });
    // auto_explain reports the plan of the statement inside the function, with the rows each scan read:
    // the page's 21 memberships, not the user's 2,000.
    const plans: string[] = [];
    const observed = postgres(database.url, { max: 1, onnotice: (notice) => plans.push(notice.message ?? '') });
    try {
      await observed.begin(async (tx) => {
        await tx`load 'auto_explain'`;
        await tx`select set_config('auto_explain.log_min_duration', '0', true), set_config('auto_explain.log_analyze', 'on', true),
                        set_config('auto_explain.log_nested_statements', 'on', true), set_config('auto_explain.log_format', 'json', true),
                        set_config('auto_explain.log_level', 'notice', true)`;
        await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${claims}, true)`;
        expect(await tx`select * from staffroom.caller_memberships(21)`).toHaveLength(21);
      });
    } finally {
      await observed.end();
    }
    const scans = plans
      .filter((text) => text.includes('staffroom.memberships m'))
      .flatMap((text) => [...text.matchAll(/"Relation Name": "memberships",[^]*?"Actual Rows": (\d+)/g)].map((m) => Number(m[1])));
    expect(scans).toEqual([21]);
  });
});

describe('API keys as callers', () => {
  it('can read their organization but not create or list organizations', async () => {
    const org = await createOrg(alice, 'Keyed');
    const secret = generateApiKeySecret();
    await database.db`insert into staffroom.api_keys (organization_id, name, prefix, secret_hash, created_by)
      values (${org.id}, 'ci', ${secret.slice(0, 13)}, ${hashSecret(secret)}, ${alice.id})`;
    const client = server.client({ apiKey: secret });
    const read = await client.GET('/v1/organizations/{orgId}', { params: { path: { orgId: org.id } } });
    expect(read.data?.data).toMatchObject({ id: org.id, role: 'admin' });
    expect((await client.GET('/v1/organizations')).response.status).toBe(403);
    expect((await client.POST('/v1/organizations', { body: { name: 'By key' } })).response.status).toBe(403);
    const renamed = await client.PATCH('/v1/organizations/{orgId}', {
      params: { path: { orgId: org.id } },
      body: { name: 'Renamed by key' },
    });
    expect(renamed.response.status).toBe(403);
    expect((await as(alice).GET('/v1/organizations/{orgId}', { params: { path: { orgId: org.id } } })).data?.data.name).toBe('Keyed');
    const other = await createOrg(bob, 'Not keyed');
    expect((await client.GET('/v1/organizations/{orgId}', { params: { path: { orgId: other.id } } })).response.status).toBe(404);
    await database.db`update staffroom.api_keys set revoked_at = now() where secret_hash = ${hashSecret(secret)}`;
    const revoked = await client.GET('/v1/organizations/{orgId}', { params: { path: { orgId: org.id } } });
    expect(revoked.response.status).toBe(401);
    expect(revoked.error?.error.code).toBe('API_KEY_INVALID');
  });
});
