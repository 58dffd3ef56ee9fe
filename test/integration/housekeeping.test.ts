// Housekeeping runs on its own clock: a task waiting for tool outputs expires on time even while the worker has
// a backlog it cannot drain quickly, and one sweep removes every old event, however many batches that takes.
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import type { LlmProvider } from '../../src/integrations/llm/provider.js';
import { createHousekeeping, sweepOldRows } from '../../src/services/housekeeping.js';
import { createWorker } from '../../src/services/worker.js';
import { useTestApp } from '../support/app.js';
import { setPlan } from '../support/database.js';
import { signUp, type TestUser } from '../support/server.js';

const app = useTestApp();
let owner: TestUser;
let orgId: string;
let employeeId: string;

const client = () => app.server.client({ accessToken: owner.token });
const silent = pino({ level: 'silent' });

async function create(input: string, toolUse: 'client' | 'none' = 'none'): Promise<string> {
  const created = await client().POST('/v1/organizations/{orgId}/tasks', {
    params: { path: { orgId } },
    body: { employeeId, input, toolUse },
  });
  expect(created.response.status, JSON.stringify(created.error)).toBe(202);
  return created.data!.data.id;
}
async function statusOf(taskId: string): Promise<string> {
  const [row] = await app.database.db<{ status: string }[]>`select status from staffroom.tasks where id = ${taskId}`;
  return row!.status;
}

/** The offline provider, one second a call: the queue drains far slower than tasks wait. */
function slowProvider(): LlmProvider {
  const offline = createOfflineProvider();
  return {
    ...offline,
    async complete(request) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      return offline.complete(request);
    },
  };
}

beforeAll(async () => {
  owner = await signUp(app.database.db, 'housekeeping-owner@example.com');
  orgId = (await client().POST('/v1/organizations', { body: { name: 'Housekeeping' } })).data!.data.id;
  await setPlan(app.database.db, orgId, 'pro');
  employeeId = (
    await client().POST('/v1/organizations/{orgId}/employees', {
      params: { path: { orgId } },
      body: { name: 'Reader', instructions: 'Read.', tools: ['Read'] },
    })
  ).data!.data.id;
});

describe('housekeeping', () => {
  it('expires a task waiting for tool outputs on time while the worker has a backlog', async () => {
    const toolOutputsTimeoutMs = 1_000;
    const waiting = await create('@Read NOTES.md', 'client');
    await createWorker({ db: app.database.db, providers: { offline: createOfflineProvider() }, log: silent, toolOutputsTimeoutMs }).drain();
    expect(await statusOf(waiting)).toBe('requires_action');
    const { deadline } = (
      await app.database.db<{ deadline: Date }[]>`
      select action_expires_at as deadline from staffroom.tasks where id = ${waiting}`
    )[0]!;

    for (let i = 0; i < 20; i++) await create(`Backlog ${i}.`);
    const worker = createWorker({ db: app.database.db, providers: { offline: slowProvider() }, log: silent, concurrency: 1 });
    const housekeeping = createHousekeeping({ db: app.database.db, log: silent, expireEveryMs: 200 });
    worker.start();
    housekeeping.start();
    try {
      while ((await statusOf(waiting)) === 'requires_action' && Date.now() < deadline.getTime() + 10_000) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const expiredAt = Date.now();
      expect(await statusOf(waiting)).toBe('expired');
      expect(expiredAt - deadline.getTime()).toBeLessThan(3_000);
      // The backlog was still there: expiry did not wait for an idle queue.
      const { queued } = (
        await app.database.db<{ queued: number }[]>`
        select count(*)::int as queued from staffroom.tasks where organization_id = ${orgId} and status = 'queued'`
      )[0]!;
      expect(queued).toBeGreaterThan(10);
    } finally {
      await housekeeping.stop();
      await worker.stop();
    }
  });

  it('sweeps more than one batch of old events in one run', async () => {
    const { before } = (await app.database.db<{ before: number }[]>`select count(*)::int as before from staffroom.events`)[0]!;
    // 12,001 events past their 30 days: more than two of sweep_events' batches of 5,000.
    const { seq } = (
      await app.database.db<{ seq: string }[]>`
      select coalesce(max(seq), 0)::text as seq from staffroom.events where organization_id = ${orgId}`
    )[0]!;
    await app.database.db`
      insert into staffroom.events (organization_id, seq, type, task_id, data, created_at)
      select ${orgId}, ${seq}::bigint + g, 'credits.low', null, '{}'::jsonb, now() - interval '31 days'
      from generate_series(1, 12001) g`;
    const swept = await sweepOldRows(app.database.db);
    expect(swept.events).toBe(12_001);
    const { after } = (await app.database.db<{ after: number }[]>`select count(*)::int as after from staffroom.events`)[0]!;
    expect(after).toBe(before);
  });
});
