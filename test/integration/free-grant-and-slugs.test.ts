// The free plan's credits go to one organization per person, whatever they create, delete, restore or hand
// over; and a deleted organization keeps its slug for its restore, while a taken name gets a free variant.
import { describe, expect, it } from 'vitest';
import { withService } from '../../src/db/client.js';
import { moveCredits } from '../../src/db/queries/credits.js';
import { useTestApp } from '../support/app.js';
import { signUp, type TestUser } from '../support/server.js';

const app = useTestApp();
let n = 0;

const as = (user: TestUser) => app.server.client({ accessToken: user.token });
const person = () => signUp(app.database.db, `free-${++n}@example.com`);
const thisMonth = () => `grant:free:${new Date().toISOString().slice(0, 7)}`;

async function createOrg(user: TestUser, name: string, slug?: string) {
  const { data, error, response } = await as(user).POST('/v1/organizations', { body: { name, ...(slug ? { slug } : {}) } });
  if (!data) throw new Error(`createOrganization failed: ${response.status} ${JSON.stringify(error)}`);
  return data.data;
}

const available = async (user: TestUser, orgId: string) =>
  (await as(user).GET('/v1/organizations/{orgId}/billing', { params: { path: { orgId } } })).data!.data.credits.available;

/** Every free grant the ledger holds for these organizations, as [organization, reference]. */
async function freeGrants(...orgIds: string[]): Promise<[string, string][]> {
  const rows = await app.database.db<{ org: string; reference: string }[]>`
    select organization_id as org, reference from staffroom.credit_ledger
    where organization_id in ${app.database.db(orgIds)} and kind = 'grant' order by created_at, reference`;
  return rows.map((r) => [r.org, r.reference]);
}

const deleteOrg = (user: TestUser, orgId: string) => as(user).DELETE('/v1/organizations/{orgId}', { params: { path: { orgId } } });
const restoreOrg = (user: TestUser, orgId: string) => as(user).POST('/v1/organizations/{orgId}/restore', { params: { path: { orgId } } });

async function hire(user: TestUser, orgId: string): Promise<string> {
  const { data } = await as(user).POST('/v1/organizations/{orgId}/employees', {
    params: { path: { orgId } },
    body: { name: 'Worker', instructions: 'Work.' },
  });
  return data!.data.id;
}

describe('the free grant', () => {
  it("goes to a person's first organization only; the next ones start at 0 and cannot run tasks", async () => {
    const owner = await person();
    const first = await createOrg(owner, 'First');
    const second = await createOrg(owner, 'Second');
    expect(await available(owner, first.id)).toBe(10_000);
    expect(await available(owner, second.id)).toBe(0);
    expect(await freeGrants(first.id, second.id)).toEqual([[first.id, thisMonth()]]);
    const ledger = await as(owner).GET('/v1/organizations/{orgId}/billing/ledger', { params: { path: { orgId: second.id } } });
    expect(ledger.data?.data).toEqual([]);

    const task = await as(owner).POST('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId: second.id } },
      body: { employeeId: await hire(owner, second.id), input: 'Work for free.' },
    });
    expect(task.response.status).toBe(402);
    expect(task.error?.error.code).toBe('PAYMENT_REQUIRED');
    expect(await freeGrants(second.id)).toEqual([]);
  });

  it('is granted once when the same person creates organizations at the same time', async () => {
    const owner = await person();
    const created = await Promise.all(Array.from({ length: 5 }, (_, i) => createOrg(owner, `Burst ${i}`)));
    const balances = await Promise.all(created.map((org) => available(owner, org.id)));
    expect(balances.sort((a, b) => a - b)).toEqual([0, 0, 0, 0, 10_000]);
    expect(await freeGrants(...created.map((org) => org.id))).toHaveLength(1);
  });

  it('is not granted again after the granted organization is deleted, nor when it is restored', async () => {
    const owner = await person();
    const granted = await createOrg(owner, 'Granted');
    expect((await deleteOrg(owner, granted.id)).response.status).toBe(200);
    const replacement = await createOrg(owner, 'Replacement');
    expect(await available(owner, replacement.id)).toBe(0);

    expect((await restoreOrg(owner, granted.id)).response.status).toBe(200);
    expect(await available(owner, granted.id)).toBe(10_000);
    // The replacement, deleted and restored in turn, gets nothing either.
    await deleteOrg(owner, replacement.id);
    await restoreOrg(owner, replacement.id);
    expect(await available(owner, replacement.id)).toBe(0);
    expect(await freeGrants(granted.id, replacement.id)).toEqual([[granted.id, thisMonth()]]);
  });

  it('stays with the organization when its ownership moves: its first owner gets no second grant', async () => {
    const [alice, bob] = [await person(), await person()];
    const granted = await createOrg(alice, 'Handed over');
    const invitation = await as(alice).POST('/v1/organizations/{orgId}/invitations', {
      params: { path: { orgId: granted.id } },
      body: { email: bob.email },
    });
    expect((await as(bob).POST('/v1/invitations/accept', { body: { token: invitation.data!.data.token! } })).response.status).toBe(200);
    const member = (userId: string) => ({ params: { path: { orgId: granted.id, userId } } });
    expect(
      (await as(alice).PATCH('/v1/organizations/{orgId}/members/{userId}', { ...member(bob.id), body: { role: 'owner' } })).response.status,
    ).toBe(200);
    expect((await as(alice).DELETE('/v1/organizations/{orgId}/members/{userId}', member(alice.id))).response.status).toBe(204);

    const alicesNext = await createOrg(alice, 'Alice again');
    expect(await available(alice, alicesNext.id)).toBe(0);
    // Bob's own grant is his first organization's: one grant per person, however organizations change hands.
    const bobsOwn = await createOrg(bob, 'Bob’s own');
    expect(await available(bob, bobsOwn.id)).toBe(10_000);
    const bobsNext = await createOrg(bob, 'Bob’s next');
    expect(await available(bob, bobsNext.id)).toBe(0);
    expect(await freeGrants(granted.id, alicesNext.id, bobsOwn.id, bobsNext.id)).toEqual([
      [granted.id, thisMonth()],
      [bobsOwn.id, thisMonth()],
    ]);
  });

  it('renews each month for the granted organization only', async () => {
    const owner = await person();
    const granted = await createOrg(owner, 'Renewed');
    const other = await createOrg(owner, 'Not renewed');
    // The other one runs on credits bought.
    await withService(app.database.db, 'test: a credit pack', (tx) =>
      moveCredits(tx, { orgId: other.id, kind: 'purchase', amount: 50_000, reference: 'test:pack', description: 'Credit pack' }),
    );
    // As if the month had turned since the grant.
    await app.database.db`update staffroom.credit_ledger set reference = 'grant:free:2000-01' where organization_id = ${granted.id}`;
    for (const org of [granted, other]) {
      const task = await as(owner).POST('/v1/organizations/{orgId}/tasks', {
        params: { path: { orgId: org.id } },
        body: { employeeId: await hire(owner, org.id), input: 'A new month.' },
      });
      expect(task.response.status).toBe(202);
    }
    expect(await freeGrants(granted.id, other.id)).toEqual([
      [granted.id, 'grant:free:2000-01'],
      [granted.id, thisMonth()],
    ]);
  });
});

describe('slugs', () => {
  it('give a second "Acme" the first free variant; an explicit slug that is taken is 409 SLUG_TAKEN', async () => {
    const [alice, bob, carol] = [await person(), await person(), await person()];
    expect((await createOrg(alice, 'Acme')).slug).toBe('acme');
    expect((await createOrg(bob, 'Acme')).slug).toBe('acme-2');
    expect((await createOrg(carol, 'ACME!')).slug).toBe('acme-3');
    const explicit = await as(carol).POST('/v1/organizations', { body: { name: 'Acme', slug: 'acme' } });
    expect(explicit.response.status).toBe(409);
    expect(explicit.error?.error).toMatchObject({ code: 'SLUG_TAKEN', details: [{ field: 'body.slug' }] });
  });

  it('keep a long name within 48 characters', async () => {
    const name = 'A rather long organization name that goes on and on';
    const [first, second] = [await createOrg(await person(), name), await createOrg(await person(), name)];
    expect(second.slug).toBe(`${first.slug}-2`);
    expect(second.slug.length).toBeLessThanOrEqual(48);
  });

  it("hold a deleted organization's slug for its restore, whoever tries to take it meanwhile", async () => {
    const [owner, squatter] = [await person(), await person()];
    const org = await createOrg(owner, 'Held', 'held');
    await deleteOrg(owner, org.id);
    const taken = await as(squatter).POST('/v1/organizations', { body: { name: 'Mine now', slug: 'held' } });
    expect(taken.error?.error).toMatchObject({ code: 'SLUG_TAKEN', details: [{ field: 'body.slug' }] });
    expect((await createOrg(squatter, 'Held')).slug).toBe('held-2');
    const own = await createOrg(squatter, 'Own', 'held-own');
    const renamed = await as(squatter).PATCH('/v1/organizations/{orgId}', { params: { path: { orgId: own.id } }, body: { slug: 'held' } });
    expect(renamed.error?.error).toMatchObject({ code: 'SLUG_TAKEN', details: [{ field: 'body.slug' }] });

    const restored = await restoreOrg(owner, org.id);
    expect(restored.response.status).toBe(200);
    expect(restored.data?.data).toMatchObject({ slug: 'held', deletedAt: null });
  });

  it('are free again once the restore window is over, and that organization then cannot come back', async () => {
    const [owner, newcomer] = [await person(), await person()];
    const org = await createOrg(owner, 'Expired', 'expired');
    await deleteOrg(owner, org.id);
    await app.database.db`update staffroom.organizations set deleted_at = now() - interval '31 days' where id = ${org.id}`;
    expect((await createOrg(newcomer, 'Expired', 'expired')).slug).toBe('expired');
    expect((await restoreOrg(owner, org.id)).response.status).toBe(404);

    const other = await createOrg(owner, 'Renamed later', 'renamed-later');
    await deleteOrg(owner, other.id);
    await app.database.db`update staffroom.organizations set deleted_at = now() - interval '31 days' where id = ${other.id}`;
    const own = await createOrg(newcomer, 'Mine');
    const renamed = await as(newcomer).PATCH('/v1/organizations/{orgId}', {
      params: { path: { orgId: own.id } },
      body: { slug: 'renamed-later' },
    });
    expect(renamed.data?.data.slug).toBe('renamed-later');
  });

  it('bring back an organization whose slug was taken before slugs were held under the first free variant', async () => {
    const [owner, other] = [await person(), await person()];
    const org = await createOrg(owner, 'Legacy', 'legacy');
    await deleteOrg(owner, org.id);
    // What the migration leaves of such a case: the deleted organization's slug released, someone else holding it.
    await app.database.db`update staffroom.organizations set slug_released_at = now() where id = ${org.id}`;
    await createOrg(other, 'Legacy', 'legacy');
    const restored = await restoreOrg(owner, org.id);
    expect(restored.data?.data).toMatchObject({ slug: 'legacy-2', deletedAt: null });
    const [event] = await app.database.db`select before, after from staffroom.audit_events
      where organization_id = ${org.id} and action = 'organization.restored'`;
    expect(event).toEqual({ before: { slug: 'legacy' }, after: { slug: 'legacy-2' } });
  });
});
