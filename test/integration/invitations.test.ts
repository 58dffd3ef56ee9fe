// Invitations end to end: A creates an organization, B cannot see it, A invites B, B accepts, both see it,
// B (member) cannot delete it, A can. Plus the edges: wrong email, reuse, revocation, expiry, roles.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSupabaseMailer } from '../../src/integrations/supabase.js';
import { useTestApp } from '../support/app.js';
import { signUp, startTestServer, type TestUser } from '../support/server.js';

const app = useTestApp();
let n = 0;

const as = (user: TestUser) => app.server.client({ accessToken: user.token });
const user = () => signUp(app.database.db, `invitee-${++n}@example.com`);
async function orgOf(owner: TestUser): Promise<string> {
  const { data } = await as(owner).POST('/v1/organizations', { body: { name: `Invites ${++n}` } });
  return data!.data.id;
}
const invite = (from: TestUser, orgId: string, email: string, role?: 'admin' | 'member') =>
  as(from).POST('/v1/organizations/{orgId}/invitations', { params: { path: { orgId } }, body: { email, ...(role ? { role } : {}) } });

describe('the invitation flow', () => {
  it('lets A bring B in, and only A delete the organization', async () => {
    const [a, b] = [await user(), await user()];
    const orgId = await orgOf(a);
    const path = { params: { path: { orgId } } };
    expect((await as(b).GET('/v1/organizations/{orgId}', path)).response.status).toBe(404);

    const issued = await invite(a, orgId, b.email.toUpperCase());
    expect(issued.response.status).toBe(201);
    expect(issued.data?.data).toMatchObject({ email: b.email, role: 'member', status: 'pending', emailSent: false });
    expect(issued.data?.data.acceptUrl).toBe(`https://app.example.com/invitations/accept?token=${issued.data?.data.token}`);
    const [stored] = await app.database.db`select token_hash from staffroom.invitations where id = ${issued.data!.data.id}`;
    expect(stored?.token_hash).not.toContain(issued.data!.data.token!); // only a hash is kept

    const accepted = await as(b).POST('/v1/invitations/accept', { body: { token: issued.data!.data.token! } });
    expect(accepted.data?.data).toMatchObject({ organization: { id: orgId }, role: 'member' });
    expect((await as(b).GET('/v1/organizations/{orgId}', path)).data?.data.role).toBe('member');
    expect((await as(a).GET('/v1/organizations/{orgId}/members', path)).data?.data.map((m) => m.email)).toEqual([a.email, b.email]);

    expect((await as(b).DELETE('/v1/organizations/{orgId}', path)).response.status).toBe(403);
    expect((await as(a).DELETE('/v1/organizations/{orgId}', path)).response.status).toBe(200);
    expect((await as(b).GET('/v1/organizations/{orgId}', path)).response.status).toBe(404);

    const audit = await as(a).GET('/v1/organizations/{orgId}/audit-events', { params: { path: { orgId } } });
    expect(audit.response.status).toBe(404); // deleted: its resources answer 404
  });

  it('accepts a token only for the invited email, and only once', async () => {
    const [a, b, c] = [await user(), await user(), await user()];
    const orgId = await orgOf(a);
    const token = (await invite(a, orgId, b.email)).data!.data.token!;
    const wrong = await as(c).POST('/v1/invitations/accept', { body: { token } });
    expect(wrong.response.status).toBe(403);
    expect(wrong.error?.error.code).toBe('INVITATION_EMAIL_MISMATCH');
    const [first, second] = await Promise.all([
      as(b).POST('/v1/invitations/accept', { body: { token } }),
      as(b).POST('/v1/invitations/accept', { body: { token } }),
    ]);
    expect([first.response.status, second.response.status].sort((x, y) => x - y)).toEqual([200, 409]);
    expect([first, second].find((r) => r.response.status === 409)?.error?.error.code).toBe('INVITATION_NOT_PENDING');
    const unknown = await as(b).POST('/v1/invitations/accept', { body: { token: `inv_${'x'.repeat(43)}` } });
    expect(unknown.response.status).toBe(404);
  });

  it('refuses revoked and expired invitations', async () => {
    const [a, b, c] = [await user(), await user(), await user()];
    const orgId = await orgOf(a);
    const revoked = (await invite(a, orgId, b.email)).data!.data;
    const revoke = await as(a).DELETE('/v1/organizations/{orgId}/invitations/{invitationId}', {
      params: { path: { orgId, invitationId: revoked.id } },
    });
    expect(revoke.data?.data.status).toBe('revoked');
    expect((await as(b).POST('/v1/invitations/accept', { body: { token: revoked.token! } })).response.status).toBe(404);
    const again = await as(a).DELETE('/v1/organizations/{orgId}/invitations/{invitationId}', {
      params: { path: { orgId, invitationId: revoked.id } },
    });
    expect(again.response.status).toBe(409);
    expect(again.error?.error.code).toBe('INVITATION_NOT_PENDING');

    const expiring = (await invite(a, orgId, c.email)).data!.data;
    await app.database
      .db`update staffroom.invitations set expires_at = now() - interval '1 second', created_at = now() - interval '8 days' where id = ${expiring.id}`;
    expect((await as(c).POST('/v1/invitations/accept', { body: { token: expiring.token! } })).response.status).toBe(404);
    const listed = await as(a).GET('/v1/organizations/{orgId}/invitations', { params: { path: { orgId }, query: { status: 'expired' } } });
    expect(listed.data?.data.map((i) => i.id)).toEqual([expiring.id]);
    // An expired invitation does not block a new one.
    expect((await invite(a, orgId, c.email)).response.status).toBe(201);
  });

  it('answers 409 for a pending duplicate or an existing member, 403 for members, 404 across tenants', async () => {
    const [a, b, stranger] = [await user(), await user(), await user()];
    const orgId = await orgOf(a);
    const token = (await invite(a, orgId, b.email)).data!.data.token!;
    const duplicate = await invite(a, orgId, b.email);
    expect(duplicate.response.status).toBe(409);
    expect(duplicate.error?.error).toMatchObject({ code: 'ALREADY_INVITED', details: [{ field: 'body.email' }] });
    await as(b).POST('/v1/invitations/accept', { body: { token } });
    const member = await invite(a, orgId, b.email);
    expect(member.response.status).toBe(409);
    expect(member.error?.error).toMatchObject({ code: 'ALREADY_MEMBER', details: [{ field: 'body.email' }] });
    expect((await invite(b, orgId, 'someone@example.com')).response.status).toBe(403);
    expect((await as(b).GET('/v1/organizations/{orgId}/invitations', { params: { path: { orgId } } })).response.status).toBe(403);
    expect((await invite(stranger, orgId, 'someone@example.com')).response.status).toBe(404);
    const badEmail = await invite(a, orgId, 'not-an-email');
    expect(badEmail.error?.error.details?.[0]?.field).toBe('body.email');
    const ownerRole = await as(a).POST('/v1/organizations/{orgId}/invitations', {
      params: { path: { orgId } },
      body: { email: 'x@example.com', role: 'owner' as never },
    });
    expect(ownerRole.error?.error.details?.[0]?.field).toBe('body.role');
  });

  it('answers PLAN_LIMIT_REACHED when members and pending invitations fill the plan', async () => {
    const a = await user();
    const orgId = await orgOf(a);
    // The free plan allows 3 members: the owner and two pending invitations fill it.
    expect((await invite(a, orgId, 'first@example.com')).response.status).toBe(201);
    expect((await invite(a, orgId, 'second@example.com')).response.status).toBe(201);
    const third = await invite(a, orgId, 'third@example.com');
    expect(third.response.status).toBe(409);
    expect(third.error?.error.code).toBe('PLAN_LIMIT_REACHED');
  });
});

describe('the audit trail', () => {
  it('records invitations and lets owners and admins filter it, not members', async () => {
    const [a, b] = [await user(), await user()];
    const orgId = await orgOf(a);
    const token = (await invite(a, orgId, b.email)).data!.data.token!;
    await as(b).POST('/v1/invitations/accept', { body: { token } });
    const all = await as(a).GET('/v1/organizations/{orgId}/audit-events', { params: { path: { orgId } } });
    expect(all.data?.data.map((e) => e.action)).toEqual(['invitation.accepted', 'invitation.created', 'organization.created']);
    expect(all.data?.data[0]?.actor).toMatchObject({ type: 'user', id: b.id, email: b.email });
    const filtered = await as(a).GET('/v1/organizations/{orgId}/audit-events', {
      params: { path: { orgId }, query: { targetType: 'invitation', actorId: a.id, limit: 1 } },
    });
    expect(filtered.data?.data.map((e) => e.action)).toEqual(['invitation.created']);
    expect((await as(b).GET('/v1/organizations/{orgId}/audit-events', { params: { path: { orgId } } })).response.status).toBe(403);
  });
});

describe('emailed invitations', () => {
  let supabase: Server;
  const received: { path?: string; body: Record<string, unknown>; apikey?: string }[] = [];

  beforeAll(async () => {
    // A local stand-in for Supabase Auth's admin invite endpoint.
    supabase = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push({ path: req.url, body: JSON.parse(body || '{}') as Record<string, unknown>, apikey: req.headers.apikey as string });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ id: crypto.randomUUID(), email: 'x' }));
      });
    }).listen(0, '127.0.0.1');
    await new Promise((resolve) => supabase.once('listening', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => supabase.close(() => resolve())));

  it('sends the email through Supabase and returns no token', async () => {
    const url = `http://127.0.0.1:${(supabase.address() as AddressInfo).port}`;
    const mailing = await startTestServer({ db: app.database.db, mailer: createSupabaseMailer(url, 'service-role-key') });
    try {
      const a = await user();
      const { data } = await mailing.client({ accessToken: a.token }).POST('/v1/organizations', { body: { name: 'Mailing' } });
      const issued = await mailing.client({ accessToken: a.token }).POST('/v1/organizations/{orgId}/invitations', {
        params: { path: { orgId: data!.data.id } },
        body: { email: 'dana@example.com', role: 'admin' },
      });
      expect(issued.data?.data).toMatchObject({ emailSent: true, token: null, acceptUrl: null, role: 'admin' });
      expect(received).toHaveLength(1);
      expect(received[0]?.path).toMatch(/^\/auth\/v1\/invite/);
      expect(received[0]?.body.email).toBe('dana@example.com');
      expect(received[0]?.apikey).toBe('service-role-key');
    } finally {
      await mailing.close();
    }
  });
});
