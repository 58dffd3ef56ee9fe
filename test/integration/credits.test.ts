// Credits: the free grant, reservations at createTask (402 when short), settlement by the worker, and a
// ledger whose sum is always the available balance — also under concurrent requests.
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { withService } from '../../src/db/client.js';
import { findAvailable, moveCredits } from '../../src/db/queries/credits.js';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createWorker } from '../../src/services/worker.js';
import { useTestApp } from '../support/app.js';
import { setPlan } from '../support/database.js';
import { signUp, type TestUser } from '../support/server.js';

const app = useTestApp();
let owner: TestUser;
let member: TestUser;

beforeAll(async () => {
  owner = await signUp(app.database.db, 'credits-owner@example.com');
  member = await signUp(app.database.db, 'credits-member@example.com');
});

const as = (user: TestUser) => app.server.client({ accessToken: user.token });
const drain = () =>
  createWorker({
    db: app.database.db,
    providers: { offline: createOfflineProvider() },
    log: pino({ level: 'silent' }),
    concurrency: 4,
  }).drain();

/**
 * An organization, by default on the pro plan, which runs enough tasks at once for the races below. Only a
 * person's first organization gets the free credits: a pro one starts with 10,000 here all the same.
 */
async function organization(name: string, plan: 'free' | 'pro' = 'pro', by: TestUser = owner) {
  const orgId = (await as(by).POST('/v1/organizations', { body: { name } })).data!.data.id;
  if (plan !== 'free') {
    await setPlan(app.database.db, orgId, plan);
    await withService(app.database.db, 'test: the starting balance', async (tx) =>
      moveCredits(tx, {
        orgId,
        kind: 'adjustment',
        amount: 10_000 - (await findAvailable(tx, orgId)),
        reference: 'test:start',
        description: 'Test balance',
      }),
    );
  }
  const employeeId = (
    await as(by).POST('/v1/organizations/{orgId}/employees', {
      params: { path: { orgId } },
      body: { name: 'Worker', instructions: 'Work.' },
    })
  ).data!.data.id;
  return { orgId, employeeId };
}

const billing = async (orgId: string, by: TestUser = owner) =>
  (await as(by).GET('/v1/organizations/{orgId}/billing', { params: { path: { orgId } } })).data!.data;

async function ledgerState(orgId: string) {
  const [row] = await app.database.db`
    select (select coalesce(sum(amount), 0)::float8 from staffroom.credit_ledger where organization_id = ${orgId}) as sum,
           (select available::float8 from staffroom.credit_accounts where organization_id = ${orgId}) as available`;
  return row as { sum: number; available: number };
}

describe('credits', () => {
  it("grants the free plan monthly credits once, at the creation of a person's first organization", async () => {
    const newcomer = await signUp(app.database.db, 'credits-newcomer@example.com');
    const { orgId } = await organization('Granted', 'free', newcomer);
    expect(await billing(orgId, newcomer)).toMatchObject({
      planId: 'free',
      subscription: { status: 'none' },
      credits: { balance: 10_000, reserved: 0, available: 10_000 },
    });
    const ledger = (await as(newcomer).GET('/v1/organizations/{orgId}/billing/ledger', { params: { path: { orgId } } })).data!.data;
    expect(ledger.map((e) => [e.kind, e.amount, e.balanceAfter])).toEqual([['grant', 10_000, 10_000]]);
    expect(ledger[0]?.reference).toMatch(/^grant:free:\d{4}-\d{2}$/);
  });

  it('grants the free credits again in a new month, once, when the organization next works', async () => {
    const monthly = await signUp(app.database.db, 'credits-monthly@example.com');
    const { orgId, employeeId } = await organization('Monthly', 'free', monthly);
    // As if the organization had been created last month.
    await app.database
      .db`update staffroom.credit_ledger set reference = 'grant:free:2000-01' where organization_id = ${orgId} and kind = 'grant'`;
    for (let i = 0; i < 2; i++) {
      await as(monthly).POST('/v1/organizations/{orgId}/tasks', { params: { path: { orgId } }, body: { employeeId, input: `Month ${i}` } });
    }
    const grants = await app.database
      .db`select reference from staffroom.credit_ledger where organization_id = ${orgId} and kind = 'grant' order by reference`;
    expect(grants.map((g) => g.reference)).toEqual(['grant:free:2000-01', `grant:free:${new Date().toISOString().slice(0, 7)}`]);
    const state = await ledgerState(orgId);
    expect(state.sum).toBe(state.available);
    expect((await billing(orgId, monthly)).credits.balance).toBe(20_000);
  });

  it('reserves at creation, settles the exact cost when the task finishes, and releases the rest', async () => {
    const { orgId, employeeId } = await organization('Settled');
    const task = (
      await as(owner).POST('/v1/organizations/{orgId}/tasks', { params: { path: { orgId } }, body: { employeeId, input: 'Count me.' } })
    ).data!.data;
    const held = (await as(owner).GET('/v1/organizations/{orgId}/billing', { params: { path: { orgId } } })).data!.data.credits;
    expect(held).toEqual({ balance: 10_000, reserved: task.reservedCredits, available: 10_000 - task.reservedCredits });
    await drain();
    const done = (await as(owner).GET('/v1/organizations/{orgId}/tasks/{taskId}', { params: { path: { orgId, taskId: task.id } } })).data!
      .data;
    const after = (await as(owner).GET('/v1/organizations/{orgId}/billing', { params: { path: { orgId } } })).data!.data.credits;
    expect(after).toEqual({ balance: 10_000 - done.costCredits!, reserved: 0, available: 10_000 - done.costCredits! });
    const entries = (
      await as(owner).GET('/v1/organizations/{orgId}/billing/ledger', { params: { path: { orgId }, query: { taskId: task.id } } })
    ).data!.data;
    expect(entries.map((e) => e.kind).sort()).toEqual(['release', 'reservation', 'usage']);
    expect(entries.reduce((sum, e) => sum + e.amount, 0)).toBe(-done.costCredits!);
    const state = await ledgerState(orgId);
    expect(state.sum).toBe(state.available);
  });

  it('accepts exactly N of 3N concurrent tasks when the balance covers N, and never goes below zero', async () => {
    const { orgId, employeeId } = await organization('Exact');
    const probe = (
      await as(owner).POST('/v1/organizations/{orgId}/tasks', { params: { path: { orgId } }, body: { employeeId, input: 'Same size.' } })
    ).data!.data;
    await as(owner).POST('/v1/organizations/{orgId}/tasks/{taskId}/cancel', { params: { path: { orgId, taskId: probe.id } } });
    const n = 7;
    const target = n * probe.reservedCredits;
    // Bring the balance to exactly N reservations, through the ledger like any other movement.
    await withService(app.database.db, 'test: set the balance', (tx) =>
      moveCredits(tx, { orgId, kind: 'adjustment', amount: target - 10_000, reference: 'test:exact', description: 'Test balance' }),
    );
    const results = await Promise.all(
      Array.from({ length: 3 * n }, () =>
        as(owner).POST('/v1/organizations/{orgId}/tasks', { params: { path: { orgId } }, body: { employeeId, input: 'Same size.' } }),
      ),
    );
    const statuses = results.map((r) => r.response.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(n);
    expect(statuses.filter((s) => s === 402)).toHaveLength(2 * n);
    const refused = results.find((r) => r.response.status === 402)!;
    expect(refused.error?.error).toMatchObject({
      code: 'PAYMENT_REQUIRED',
      details: [{ field: 'credits', message: `available 0, needed ${probe.reservedCredits}` }],
    });
    expect(await ledgerState(orgId)).toEqual({ sum: 0, available: 0 });
    await drain();
    const state = await ledgerState(orgId);
    expect(state.sum).toBe(state.available);
    expect(state.available).toBeGreaterThanOrEqual(0);
    const usage = (
      await as(owner).GET('/v1/organizations/{orgId}/usage', {
        params: { path: { orgId }, query: { from: '2026-01-01', to: '2026-12-31' } },
      })
    ).data!.data;
    expect(usage.totals.tasks).toBe(n);
    expect(usage.totals.costCredits).toBe(target - state.available);
    expect(usage.byEmployee).toEqual([expect.objectContaining({ employeeId, employeeName: 'Worker', tasks: n })]);
    expect(usage.byModel.map((m) => m.model)).toEqual(['offline-small']);
    expect(usage.byDay.reduce((sum, d) => sum + d.costCredits, 0)).toBe(usage.totals.costCredits);
  });

  it('cancels the queued tasks of a deleted employee or organization and gives their credits back', async () => {
    const { orgId, employeeId } = await organization('Winding down');
    const queue = () =>
      as(owner).POST('/v1/organizations/{orgId}/tasks', { params: { path: { orgId } }, body: { employeeId, input: 'Later.' } });
    const first = (await queue()).data!.data.id;
    await as(owner).DELETE('/v1/organizations/{orgId}/employees/{employeeId}', { params: { path: { orgId, employeeId } } });
    const task = (await as(owner).GET('/v1/organizations/{orgId}/tasks/{taskId}', { params: { path: { orgId, taskId: first } } })).data!
      .data;
    expect(task.status).toBe('canceled');
    expect((await billing(orgId)).credits).toEqual({ balance: 10_000, reserved: 0, available: 10_000 });

    const other = await organization('Closing');
    await as(owner).POST('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId: other.orgId } },
      body: { employeeId: other.employeeId, input: 'Later.' },
    });
    await as(owner).DELETE('/v1/organizations/{orgId}', { params: { path: { orgId: other.orgId } } });
    const [row] = await app.database
      .db`select count(*)::int as queued from staffroom.tasks where organization_id = ${other.orgId} and status = 'queued'`;
    expect(row?.queued).toBe(0);
    expect(await ledgerState(other.orgId)).toEqual({ sum: 10_000, available: 10_000 });
  });

  it('refuses a usage range that is inverted or too long, and hides the ledger from members', async () => {
    const { orgId } = await organization('Ranges');
    const inverted = await as(owner).GET('/v1/organizations/{orgId}/usage', {
      params: { path: { orgId }, query: { from: '2026-02-01', to: '2026-01-01' } },
    });
    expect(inverted.error?.error.details?.[0]?.field).toBe('query.to');
    const long = await as(owner).GET('/v1/organizations/{orgId}/usage', {
      params: { path: { orgId }, query: { from: '2024-01-01', to: '2026-01-01' } },
    });
    expect(long.error?.error.details?.[0]?.field).toBe('query.to');
    await app.database.db`insert into staffroom.profiles (id, email) values (${member.id}, ${member.email}) on conflict do nothing`;
    await app.database.db`insert into staffroom.memberships (organization_id, user_id, role) values (${orgId}, ${member.id}, 'member')`;
    expect((await as(member).GET('/v1/organizations/{orgId}/billing/ledger', { params: { path: { orgId } } })).response.status).toBe(403);
    expect((await as(member).GET('/v1/organizations/{orgId}/billing', { params: { path: { orgId } } })).response.status).toBe(200);
  });
});
