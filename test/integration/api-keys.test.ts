// API keys: shown once, stored hashed, scoped to one organization, revocable at once, lastUsedAt tracked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { signUp, startTestServer, type TestServer, type TestUser } from '../support/server.js';

let database: TestDatabase;
let server: TestServer;
let owner: TestUser;
let member: TestUser;
let orgId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  server = await startTestServer({ db: database.db });
  owner = await signUp(database.db, 'keys-owner@example.com');
  member = await signUp(database.db, 'keys-member@example.com');
  const { data } = await server.client({ accessToken: owner.token }).POST('/v1/organizations', { body: { name: 'Keys' } });
  orgId = data!.data.id;
  await database.db`insert into staffroom.profiles (id, email) values (${member.id}, ${member.email})`;
  await database.db`insert into staffroom.memberships (organization_id, user_id, role) values (${orgId}, ${member.id}, 'member')`;
});
afterAll(async () => {
  await server.close();
  await database.drop();
});

const as = (user: TestUser) => server.client({ accessToken: user.token });
const keysPath = () => ({ params: { path: { orgId } } });

describe('API keys', () => {
  it('shows the secret once, keeps only its hash, and lets the key act for its organization', async () => {
    const created = await as(owner).POST('/v1/organizations/{orgId}/api-keys', { ...keysPath(), body: { name: 'CI' } });
    expect(created.response.status).toBe(201);
    const key = created.data!.data;
    expect(key.secret).toMatch(/^sk_live_[A-Za-z0-9]{40}$/);
    expect(key.secret.startsWith(key.prefix)).toBe(true);
    const [row] = await database.db`select secret_hash from staffroom.api_keys where id = ${key.id}`;
    expect(row?.secret_hash).not.toContain(key.secret);

    const listed = await as(owner).GET('/v1/organizations/{orgId}/api-keys', keysPath());
    expect(listed.data?.data.map((k) => k.id)).toContain(key.id);
    expect(JSON.stringify(listed.data)).not.toContain(key.secret);

    const viaKey = server.client({ apiKey: key.secret });
    expect((await viaKey.GET('/v1/organizations/{orgId}', keysPath())).response.status).toBe(200);
    const [used] = await database.db`select last_used_at from staffroom.api_keys where id = ${key.id}`;
    expect(used?.last_used_at).not.toBeNull();
    // Keys cannot manage keys or members.
    expect((await viaKey.GET('/v1/organizations/{orgId}/api-keys', keysPath())).response.status).toBe(401);
    expect((await viaKey.GET('/v1/organizations/{orgId}/members', keysPath())).response.status).toBe(401);
  });

  it('refuses a revoked key at once; revoking again changes nothing', async () => {
    const key = (await as(owner).POST('/v1/organizations/{orgId}/api-keys', { ...keysPath(), body: { name: 'Temp' } })).data!.data;
    const viaKey = server.client({ apiKey: key.secret });
    expect((await viaKey.GET('/v1/organizations/{orgId}', keysPath())).response.status).toBe(200);
    const revoked = await as(owner).DELETE('/v1/organizations/{orgId}/api-keys/{keyId}', { params: { path: { orgId, keyId: key.id } } });
    expect(revoked.data?.data.revokedAt).not.toBeNull();
    const refused = await viaKey.GET('/v1/organizations/{orgId}', keysPath());
    expect(refused.response.status).toBe(401);
    expect(refused.error?.error.code).toBe('API_KEY_INVALID');
    const again = await as(owner).DELETE('/v1/organizations/{orgId}/api-keys/{keyId}', { params: { path: { orgId, keyId: key.id } } });
    expect(again.data?.data.revokedAt).toBe(revoked.data?.data.revokedAt);
    const active = await as(owner).GET('/v1/organizations/{orgId}/api-keys', keysPath());
    expect(active.data?.data.map((k) => k.id)).not.toContain(key.id);
    const all = await as(owner).GET('/v1/organizations/{orgId}/api-keys', { params: { path: { orgId }, query: { includeRevoked: true } } });
    expect(all.data?.data.map((k) => k.id)).toContain(key.id);
    const events = await as(owner).GET('/v1/organizations/{orgId}/audit-events', {
      params: { path: { orgId }, query: { targetType: 'api_key' } },
    });
    expect(events.data?.data.filter((e) => e.targetId === key.id).map((e) => e.action)).toEqual(['api_key.revoked', 'api_key.created']);
  });

  it('refuses expired keys, past expiry dates, members, and malformed keys', async () => {
    const past = await as(owner).POST('/v1/organizations/{orgId}/api-keys', {
      ...keysPath(),
      body: { name: 'Old', expiresAt: '2020-01-01T00:00:00Z' },
    });
    expect(past.error?.error.details?.[0]?.field).toBe('body.expiresAt');
    const key = (
      await as(owner).POST('/v1/organizations/{orgId}/api-keys', {
        ...keysPath(),
        body: { name: 'Soon', expiresAt: new Date(Date.now() + 60_000).toISOString() },
      })
    ).data!.data;
    await database.db`update staffroom.api_keys set expires_at = now() - interval '1 second' where id = ${key.id}`;
    expect((await server.client({ apiKey: key.secret }).GET('/v1/organizations/{orgId}', keysPath())).error?.error.code).toBe(
      'API_KEY_INVALID',
    );
    expect((await as(member).POST('/v1/organizations/{orgId}/api-keys', { ...keysPath(), body: { name: 'Nope' } })).response.status).toBe(
      403,
    );
    expect((await server.client({ apiKey: 'sk_live_short' }).GET('/v1/organizations/{orgId}', keysPath())).error?.error.code).toBe(
      'API_KEY_INVALID',
    );
    const asBearer = await server.client({ accessToken: key.secret }).GET('/v1/organizations/{orgId}', keysPath());
    expect(asBearer.error?.error.message).toMatch(/X-Api-Key/);
  });
});

describe('resolved keys', () => {
  it('are looked up once per instance for a while, yet a key revoked anywhere is refused at once', async () => {
    const key = (await as(owner).POST('/v1/organizations/{orgId}/api-keys', { ...keysPath(), body: { name: 'Cached' } })).data!.data;
    const viaKey = server.client({ apiKey: key.secret });
    expect((await viaKey.GET('/v1/organizations/{orgId}', keysPath())).response.status).toBe(200);
    // Revoked behind this instance's back (as another instance would): the key still resolves from this
    // instance's cache, but the first statement of its transaction finds it revoked.
    await database.db`update staffroom.api_keys set revoked_at = now() where id = ${key.id}`;
    const revoked = await viaKey.GET('/v1/organizations/{orgId}', keysPath());
    expect(revoked.response.status).toBe(401);
    expect(revoked.error?.error.code).toBe('API_KEY_INVALID');

    const other = (await as(owner).POST('/v1/organizations/{orgId}/api-keys', { ...keysPath(), body: { name: 'Revoked here' } })).data!
      .data;
    const viaOther = server.client({ apiKey: other.secret });
    expect((await viaOther.GET('/v1/organizations/{orgId}', keysPath())).response.status).toBe(200);
    await as(owner).DELETE('/v1/organizations/{orgId}/api-keys/{keyId}', { params: { path: { orgId, keyId: other.id } } });
    expect((await viaOther.GET('/v1/organizations/{orgId}', keysPath())).error?.error.code).toBe('API_KEY_INVALID');
  });
});
