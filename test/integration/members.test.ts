// Members and roles over HTTP, including the last-owner rule under concurrent requests.
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { signUp, type TestUser } from '../support/server.js';

const app = useTestApp();
let n = 0;

const as = (user: TestUser) => app.server.client({ accessToken: user.token });
const user = () => signUp(app.database.db, `member-${++n}@example.com`);

/** An organization owned by `owner`, with the others joined in the given roles (a factory, not the API). */
async function team(owner: TestUser, others: [TestUser, 'owner' | 'admin' | 'member'][] = []): Promise<string> {
  const { data } = await as(owner).POST('/v1/organizations', { body: { name: `Team ${++n}` } });
  const orgId = data!.data.id;
  for (const [member, role] of others) {
    await app.database.db`insert into staffroom.profiles (id, email) values (${member.id}, ${member.email}) on conflict do nothing`;
    await app.database.db`insert into staffroom.memberships (organization_id, user_id, role) values (${orgId}, ${member.id}, ${role})`;
  }
  return orgId;
}

const memberPath = (orgId: string, userId: string) => ({ params: { path: { orgId, userId } } });

/**
 * Two owners raced to demote or remove each other: one call succeeded with `okStatus`; the other was refused,
 * 409 LAST_OWNER when it ran first into the last-owner rule or 403 FORBIDDEN when it saw that it had already
 * lost its role. Either way exactly one owner remains.
 */
async function expectOneOwnerLeft(
  results: { response: Response; error?: { error: { code: string } } }[],
  okStatus: number,
  orgId: string,
): Promise<void> {
  const statuses = results.map((r) => r.response.status).sort((x, y) => x - y);
  expect(statuses[0]).toBe(okStatus);
  expect([403, 409]).toContain(statuses[1]);
  const refused = results.find((r) => r.response.status !== okStatus)!;
  expect([
    [403, 'FORBIDDEN'],
    [409, 'LAST_OWNER'],
  ]).toContainEqual([refused.response.status, refused.error?.error.code]);
  const [row] = await app.database
    .db`select count(*)::int as owners from staffroom.memberships where organization_id = ${orgId} and role = 'owner'`;
  expect(row?.owners).toBe(1);
}

describe('listMembers', () => {
  it('lists everyone in join order with their role, and filters by role', async () => {
    const [owner, a, b] = [await user(), await user(), await user()];
    const orgId = await team(owner, [
      [a, 'admin'],
      [b, 'member'],
    ]);
    const { data } = await as(b).GET('/v1/organizations/{orgId}/members', { params: { path: { orgId } } });
    expect(data?.data.map((m) => [m.email, m.role])).toEqual([
      [owner.email, 'owner'],
      [a.email, 'admin'],
      [b.email, 'member'],
    ]);
    const admins = await as(owner).GET('/v1/organizations/{orgId}/members', { params: { path: { orgId }, query: { role: 'admin' } } });
    expect(admins.data?.data.map((m) => m.userId)).toEqual([a.id]);
    const paged = await as(owner).GET('/v1/organizations/{orgId}/members', { params: { path: { orgId }, query: { limit: 2 } } });
    const next = await as(owner).GET('/v1/organizations/{orgId}/members', {
      params: { path: { orgId }, query: { limit: 2, cursor: paged.data!.page.nextCursor! } },
    });
    expect(next.data?.data.map((m) => m.userId)).toEqual([b.id]);
  });

  it("answers 404 for another organization's members", async () => {
    const [owner, stranger] = [await user(), await user()];
    const orgId = await team(owner);
    const { response } = await as(stranger).GET('/v1/organizations/{orgId}/members', { params: { path: { orgId } } });
    expect(response.status).toBe(404);
  });
});

describe('updateMember', () => {
  it('lets an admin promote a member to admin, and records it', async () => {
    const [owner, admin, member] = [await user(), await user(), await user()];
    const orgId = await team(owner, [
      [admin, 'admin'],
      [member, 'member'],
    ]);
    const { data } = await as(admin).PATCH('/v1/organizations/{orgId}/members/{userId}', {
      ...memberPath(orgId, member.id),
      body: { role: 'admin' },
    });
    expect(data?.data.role).toBe('admin');
    const [event] = await app.database
      .db`select before, after from staffroom.audit_events where organization_id = ${orgId} and action = 'member.role_changed'`;
    expect(event).toEqual({ before: { role: 'member' }, after: { role: 'admin' } });
  });

  it('forbids admins to touch owners or make owners, and members to change anything', async () => {
    const [owner, admin, member] = [await user(), await user(), await user()];
    const orgId = await team(owner, [
      [admin, 'admin'],
      [member, 'member'],
    ]);
    const demoteOwner = await as(admin).PATCH('/v1/organizations/{orgId}/members/{userId}', {
      ...memberPath(orgId, owner.id),
      body: { role: 'member' },
    });
    expect(demoteOwner.response.status).toBe(403);
    const makeOwner = await as(admin).PATCH('/v1/organizations/{orgId}/members/{userId}', {
      ...memberPath(orgId, member.id),
      body: { role: 'owner' },
    });
    expect(makeOwner.response.status).toBe(403);
    const byMember = await as(member).PATCH('/v1/organizations/{orgId}/members/{userId}', {
      ...memberPath(orgId, admin.id),
      body: { role: 'member' },
    });
    expect(byMember.response.status).toBe(403);
    const badRole = await as(owner).PATCH('/v1/organizations/{orgId}/members/{userId}', {
      ...memberPath(orgId, member.id),
      body: { role: 'boss' as never },
    });
    expect(badRole.error?.error.details?.[0]?.field).toBe('body.role');
  });

  it('refuses to demote the last owner (409)', async () => {
    const owner = await user();
    const orgId = await team(owner);
    const { response, error } = await as(owner).PATCH('/v1/organizations/{orgId}/members/{userId}', {
      ...memberPath(orgId, owner.id),
      body: { role: 'admin' },
    });
    expect(response.status).toBe(409);
    expect(error?.error.code).toBe('LAST_OWNER');
  });

  it('keeps an owner when two owners demote each other at the same time', async () => {
    for (let round = 0; round < 5; round++) {
      const [a, b] = [await user(), await user()];
      const orgId = await team(a, [[b, 'owner']]);
      const results = await Promise.all([
        as(a).PATCH('/v1/organizations/{orgId}/members/{userId}', { ...memberPath(orgId, b.id), body: { role: 'member' } }),
        as(b).PATCH('/v1/organizations/{orgId}/members/{userId}', { ...memberPath(orgId, a.id), body: { role: 'member' } }),
      ]);
      await expectOneOwnerLeft(results, 200, orgId);
    }
  });
});

describe('removeMember', () => {
  it('lets a member leave, an admin remove a member, but not an admin remove an owner', async () => {
    const [owner, admin, m1, m2] = [await user(), await user(), await user(), await user()];
    const orgId = await team(owner, [
      [admin, 'admin'],
      [m1, 'member'],
      [m2, 'member'],
    ]);
    const leave = await as(m1).DELETE('/v1/organizations/{orgId}/members/{userId}', memberPath(orgId, m1.id));
    expect(leave.response.status).toBe(204);
    expect(leave.response.headers.get('x-request-id')).toBeTruthy();
    expect((await as(admin).DELETE('/v1/organizations/{orgId}/members/{userId}', memberPath(orgId, m2.id))).response.status).toBe(204);
    expect((await as(admin).DELETE('/v1/organizations/{orgId}/members/{userId}', memberPath(orgId, owner.id))).response.status).toBe(403);
    const gone = await as(m2).GET('/v1/organizations/{orgId}', { params: { path: { orgId } } });
    expect(gone.response.status).toBe(404);
  });

  it('refuses to remove the last owner, also when two owners leave at once', async () => {
    const solo = await user();
    const soloOrg = await team(solo);
    const last = await as(solo).DELETE('/v1/organizations/{orgId}/members/{userId}', memberPath(soloOrg, solo.id));
    expect(last.response.status).toBe(409);
    expect(last.error?.error.code).toBe('LAST_OWNER');
    const [a, b] = [await user(), await user()];
    const orgId = await team(a, [[b, 'owner']]);
    const results = await Promise.all([
      as(a).DELETE('/v1/organizations/{orgId}/members/{userId}', memberPath(orgId, a.id)),
      as(b).DELETE('/v1/organizations/{orgId}/members/{userId}', memberPath(orgId, b.id)),
    ]);
    await expectOneOwnerLeft(results, 204, orgId);
  });
});
