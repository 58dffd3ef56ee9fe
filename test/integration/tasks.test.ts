// Tasks over HTTP and the worker over the real queue: offline and fake-provider runs, retries, leases,
// concurrency and cancellation races.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withService } from '../../src/db/client.js';
import { moveCredits } from '../../src/db/queries/credits.js';
import { claimTask } from '../../src/db/queries/tasks.js';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createOpenAiProvider } from '../../src/integrations/llm/openai.js';
import { createWorker, type WorkerOptions } from '../../src/services/worker.js';
import { useTestApp } from '../support/app.js';
import { plans } from '../../src/services/catalog.js';
import { setPlan } from '../support/database.js';
import { startFakeLlm, type FakeLlm } from '../support/fake-llm.js';
import { signUp, startTestServer, type TestUser } from '../support/server.js';

const app = useTestApp();
let fake: FakeLlm;
let owner: TestUser;
let stranger: TestUser;
let orgId: string;
let offlineEmployee: string;
let openaiEmployee: string;

const as = (user: TestUser) => app.server.client({ accessToken: user.token });
const worker = (options: Partial<WorkerOptions> = {}) =>
  createWorker({
    db: app.database.db,
    providers: {
      offline: createOfflineProvider(),
      openai: createOpenAiProvider({ apiKey: 'sk-test-key-0123456789', baseUrl: `${fake.url}/v1`, timeoutMs: 2_000 }),
    },
    log: pino({ level: 'silent' }),
    retryBaseMs: 10,
    leaseMs: 2_000,
    ...options,
  });
const create = (employeeId: string, input = 'Summarise the week.', headers?: Record<string, string>) =>
  as(owner).POST('/v1/organizations/{orgId}/tasks', { params: { path: { orgId }, header: headers as never }, body: { employeeId, input } });
const get = (taskId: string) => as(owner).GET('/v1/organizations/{orgId}/tasks/{taskId}', { params: { path: { orgId, taskId } } });
const cancel = (taskId: string) =>
  as(owner).POST('/v1/organizations/{orgId}/tasks/{taskId}/cancel', { params: { path: { orgId, taskId } } });

beforeAll(async () => {
  fake = await startFakeLlm();
  owner = await signUp(app.database.db, 'tasks-owner@example.com');
  stranger = await signUp(app.database.db, 'tasks-stranger@example.com');
  orgId = (await as(owner).POST('/v1/organizations', { body: { name: 'Taskers' } })).data!.data.id;
  // The pro plan runs 25 tasks at once: these tests queue many; the free plan's limit is tested on its own.
  await setPlan(app.database.db, orgId, 'pro');
  const hire = (name: string, model: string | null) =>
    as(owner).POST('/v1/organizations/{orgId}/employees', {
      params: { path: { orgId } },
      body: { name, instructions: `You are ${name}.`, model, maxOutputTokens: 256 },
    });
  offlineEmployee = (await hire('Offline helper', null)).data!.data.id;
  openaiEmployee = (await hire('Remote helper', 'gpt-4o-mini')).data!.data.id;
});
afterAll(() => fake?.close());

describe("the plan's concurrent tasks", () => {
  it('refuses tasks past limits.concurrentTasks with 429 TASK_LIMIT_REACHED, also when they race, and reserves nothing for them', async () => {
    const small = (await as(owner).POST('/v1/organizations', { body: { name: 'Free tasks' } })).data!.data.id;
    // Only a person's first organization has the free credits: this second one of the owner's gets as many.
    await withService(app.database.db, 'test: credits', (tx) =>
      moveCredits(tx, { orgId: small, kind: 'adjustment', amount: 10_000, reference: 'test:credits', description: 'Test balance' }),
    );
    const employeeId = (
      await as(owner).POST('/v1/organizations/{orgId}/employees', {
        params: { path: { orgId: small } },
        body: { name: 'Solo', instructions: 'Work.' },
      })
    ).data!.data.id;
    const limit = plans.find((p) => p.id === 'free')!.limits.concurrentTasks;
    const balance = async () =>
      (await as(owner).GET('/v1/organizations/{orgId}/billing', { params: { path: { orgId: small } } })).data!.data.credits.available;
    const before = await balance();
    const attempts = await Promise.all(
      Array.from({ length: limit + 4 }, () =>
        as(owner).POST('/v1/organizations/{orgId}/tasks', { params: { path: { orgId: small } }, body: { employeeId, input: 'Race.' } }),
      ),
    );
    const accepted = attempts.filter((a) => a.response.status === 202);
    const refused = attempts.filter((a) => a.response.status === 429);
    expect(accepted).toHaveLength(limit);
    expect(refused).toHaveLength(4);
    expect(refused[0]!.error?.error).toMatchObject({
      code: 'TASK_LIMIT_REACHED',
      details: [{ field: 'limits.concurrentTasks', message: `${limit} of ${limit} in use` }],
    });
    expect(refused[0]!.response.headers.get('retry-after')).toBe('5');
    expect(await balance()).toBe(before - accepted.reduce((sum, a) => sum + a.data!.data.reservedCredits, 0));

    // A canceled task frees its place.
    await as(owner).POST('/v1/organizations/{orgId}/tasks/{taskId}/cancel', {
      params: { path: { orgId: small, taskId: accepted[0]!.data!.data.id } },
    });
    const next = await as(owner).POST('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId: small } },
      body: { employeeId, input: 'Now.' },
    });
    expect(next.response.status).toBe(202);
  });
});

describe('createTask and the offline provider', () => {
  it('queues (202) with a reservation, then succeeds with tokens and cost recorded', async () => {
    const created = await create(offlineEmployee);
    expect(created.response.status).toBe(202);
    expect(created.data?.data).toMatchObject({ status: 'queued', attempts: 0, model: 'offline-small', output: null });
    expect(created.data!.data.reservedCredits).toBeGreaterThan(0);
    expect(created.response.headers.get('location')).toBe(`/v1/organizations/${orgId}/tasks/${created.data?.data.id}`);
    expect(created.response.headers.get('retry-after')).toBe('1');
    expect(await worker().drain()).toBeGreaterThanOrEqual(1);
    const done = (await get(created.data!.data.id)).data!.data;
    expect(done).toMatchObject({ status: 'succeeded', provider: 'offline', attempts: 1, reservedCredits: 0, error: null });
    expect(done.output).toMatch(/^\[offline\]/);
    expect(done.usage!.inputTokens).toBeGreaterThan(0);
    expect(done.costCredits).toBeGreaterThanOrEqual(1);
    expect(done.costCredits!).toBeLessThanOrEqual(created.data!.data.reservedCredits);
  });

  it('runs within a second when the in-process worker is woken', async () => {
    const live = worker({ pollMs: 5_000 });
    live.start();
    try {
      const started = Date.now();
      const { data } = await create(offlineEmployee, 'Quick one.');
      live.wake();
      let status = 'queued';
      while (status !== 'succeeded' && Date.now() - started < 1_000) {
        status = (await get(data!.data.id)).data!.data.status;
      }
      expect(status).toBe('succeeded');
    } finally {
      await live.stop();
    }
  });

  it("runs a task queued by another instance within a second, told by the database's notice, not by its poll", async () => {
    const listening = worker({ pollMs: 60_000 });
    listening.start();
    try {
      // Let its lanes find nothing and go to sleep; nothing in this process wakes them from here on.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = Date.now();
      const { data } = await create(offlineEmployee, 'Queued elsewhere.');
      let status = 'queued';
      while (status !== 'succeeded' && Date.now() - started < 1_000) {
        status = (await get(data!.data.id)).data!.data.status;
      }
      expect(status).toBe('succeeded');
    } finally {
      await listening.stop();
    }
  });

  it('validates, and answers 404 for a deleted employee or another tenant', async () => {
    expect((await create(offlineEmployee, '')).error?.error.details?.[0]?.field).toBe('body.input');
    const temp = (
      await as(owner).POST('/v1/organizations/{orgId}/employees', {
        params: { path: { orgId } },
        body: { name: 'Temp', instructions: 'x' },
      })
    ).data!.data.id;
    await as(owner).DELETE('/v1/organizations/{orgId}/employees/{employeeId}', { params: { path: { orgId, employeeId: temp } } });
    expect((await create(temp)).response.status).toBe(404);
    const task = (await create(offlineEmployee)).data!.data.id;
    const foreign = await as(stranger).GET('/v1/organizations/{orgId}/tasks/{taskId}', { params: { path: { orgId, taskId: task } } });
    expect(foreign.response.status).toBe(404);
  });

  it("answers MODEL_RETIRED when the employee's model is no longer offered", async () => {
    const path = { params: { path: { orgId } } };
    const retiring = (
      await as(owner).POST('/v1/organizations/{orgId}/employees', {
        ...path,
        body: { name: 'Retiring', instructions: 'x', model: 'gpt-4o' },
      })
    ).data!.data.id;
    // A model taken off the catalogue after the employee was given it.
    await app.database.db`update staffroom.employees set model = 'gpt-3-retired' where id = ${retiring}`;
    const refused = await create(retiring);
    expect(refused.response.status).toBe(409);
    expect(refused.error?.error.code).toBe('MODEL_RETIRED');
    await as(owner).DELETE('/v1/organizations/{orgId}/employees/{employeeId}', { params: { path: { orgId, employeeId: retiring } } });
  });

  it('replays an Idempotency-Key and refuses it for another body', async () => {
    const key = crypto.randomUUID();
    const first = await create(offlineEmployee, 'Once.', { 'Idempotency-Key': key });
    const again = await create(offlineEmployee, 'Once.', { 'Idempotency-Key': key });
    expect(again.data?.data.id).toBe(first.data?.data.id);
    const other = await create(offlineEmployee, 'Twice.', { 'Idempotency-Key': key });
    expect(other.response.status).toBe(409);
    expect(other.error?.error.code).toBe('IDEMPOTENCY_CONFLICT');
  });

  it('lists by status and employee', async () => {
    await worker().drain();
    const succeeded = await as(owner).GET('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId }, query: { status: 'succeeded', employeeId: offlineEmployee } },
    });
    expect(succeeded.data!.data.length).toBeGreaterThan(0);
    expect(succeeded.data!.data.every((t) => t.status === 'succeeded' && t.employeeId === offlineEmployee)).toBe(true);
  });
});

describe("createTask on a deployment without the employee's provider", () => {
  it('answers 409 MODEL_UNAVAILABLE naming the variable to set, and reserves nothing', async () => {
    const offlineOnly = await startTestServer({ db: app.database.db, providers: ['offline'] });
    try {
      const client = offlineOnly.client({ accessToken: owner.token });
      const balance = async () =>
        (await client.GET('/v1/organizations/{orgId}/billing', { params: { path: { orgId } } })).data!.data.credits;
      const taskCount = async () =>
        (
          await client.GET('/v1/organizations/{orgId}/tasks', {
            params: { path: { orgId }, query: { employeeId: openaiEmployee, limit: 100 } },
          })
        ).data!.data.length;
      const [creditsBefore, tasksBefore] = [await balance(), await taskCount()];

      const refused = await client.POST('/v1/organizations/{orgId}/tasks', {
        params: { path: { orgId } },
        body: { employeeId: openaiEmployee, input: 'Summarise the week.' },
      });
      expect(refused.response.status).toBe(409);
      expect(refused.error?.error).toMatchObject({
        code: 'MODEL_UNAVAILABLE',
        message:
          "The employee's model gpt-4o-mini runs on openai, which this deployment is not configured for: set OPENAI_API_KEY, or give the employee an available model.",
        details: [{ field: 'body.employeeId' }],
      });
      expect(await balance()).toEqual(creditsBefore);
      expect(await taskCount()).toBe(tasksBefore);

      // The offline model runs anywhere.
      const accepted = await client.POST('/v1/organizations/{orgId}/tasks', {
        params: { path: { orgId } },
        body: { employeeId: offlineEmployee, input: 'Summarise the week.' },
      });
      expect(accepted.response.status).toBe(202);
      await cancel(accepted.data!.data.id);
    } finally {
      await offlineOnly.close();
    }
  });

  it("says so when the unavailable model is the organization's default", async () => {
    const offlineOnly = await startTestServer({ db: app.database.db, providers: ['offline'] });
    try {
      const client = offlineOnly.client({ accessToken: owner.token });
      const other = (await client.POST('/v1/organizations', { body: { name: 'Anthropic by default', defaultModel: 'claude-haiku-4-5' } }))
        .data!.data.id;
      const employeeId = (
        await client.POST('/v1/organizations/{orgId}/employees', {
          params: { path: { orgId: other } },
          body: { name: 'Inheritor', instructions: 'Work.' },
        })
      ).data!.data.id;
      const refused = await client.POST('/v1/organizations/{orgId}/tasks', {
        params: { path: { orgId: other } },
        body: { employeeId, input: 'Work.' },
      });
      expect(refused.response.status).toBe(409);
      expect(refused.error?.error.code).toBe('MODEL_UNAVAILABLE');
      expect(refused.error?.error.message).toContain("claude-haiku-4-5 (the organization's default) runs on anthropic");
      expect(refused.error?.error.message).toContain('set ANTHROPIC_API_KEY');
    } finally {
      await offlineOnly.close();
    }
  });
});

describe('the worker against an OpenAI-compatible server', () => {
  it('retries transient failures with backoff and then succeeds', async () => {
    fake.script({ kind: 'error', status: 429 }, { kind: 'malformed' }, { kind: 'ok', text: 'Done.', usage: { input: 1_850, output: 240 } });
    // 2,000 bytes of input: the reservation (about 5 credits) covers 1,850 + 240 tokens of gpt-4o-mini (4.215 → 5).
    const id = (await create(openaiEmployee, 'x'.repeat(2_000))).data!.data.id;
    const w = worker();
    for (let i = 0; i < 20 && (await get(id)).data!.data.status !== 'succeeded'; i++) {
      await w.drain();
      await new Promise((r) => setTimeout(r, 30));
    }
    expect((await get(id)).data!.data).toMatchObject({
      status: 'succeeded',
      output: 'Done.',
      attempts: 3,
      provider: 'openai',
      costCredits: 5,
    });
  });

  it('fails at once on a permanent error, with the provider message', async () => {
    fake.script({ kind: 'error', status: 400, message: 'maximum context length exceeded' });
    const id = (await create(openaiEmployee)).data!.data.id;
    await worker().drain();
    const task = (await get(id)).data!.data;
    expect(task).toMatchObject({ status: 'failed', attempts: 1, costCredits: 0, error: { code: 'provider_error' } });
    expect(task.error?.message).toContain('maximum context length exceeded');
  });

  it('gives up after the last attempt', async () => {
    fake.script({ kind: 'error', status: 500 }, { kind: 'error', status: 502 }, { kind: 'error', status: 503 });
    const id = (await create(openaiEmployee)).data!.data.id;
    const w = worker();
    for (let i = 0; i < 20 && ['queued', 'running'].includes((await get(id)).data!.data.status); i++) {
      await w.drain();
      await new Promise((r) => setTimeout(r, 30));
    }
    expect((await get(id)).data!.data).toMatchObject({ status: 'failed', attempts: 3, error: { code: 'attempts_exhausted' } });
  });
});

describe('durability and races', () => {
  it('finishes exactly once the task of a worker that died holding it', async () => {
    const id = (await create(offlineEmployee, 'Survive me.')).data!.data.id;
    // A worker claims it and dies: nobody renews its lease.
    const claimed = await withService(app.database.db, 'test: a worker that dies', (tx) => claimTask(tx, 'dead-worker', 100));
    expect(claimed?.id).toBe(id);
    expect(await worker().drain()).toBe(0); // the lease still holds
    await new Promise((r) => setTimeout(r, 150));
    expect(await worker().drain()).toBe(1);
    expect((await get(id)).data!.data).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('never runs a task twice with two workers on many tasks', async () => {
    fake.script();
    const before = fake.received.length;
    const ids = await Promise.all(Array.from({ length: 24 }, (_, i) => create(openaiEmployee, `Task ${i}`).then((r) => r.data!.data.id)));
    const [a, b] = [worker({ concurrency: 3 }), worker({ concurrency: 3 })];
    await Promise.all([a.drain(), b.drain()]);
    const calls = fake.received.slice(before).map((r) => JSON.stringify(r.body.messages));
    expect(calls).toHaveLength(24);
    expect(new Set(calls).size).toBe(24);
    for (const id of ids) expect((await get(id)).data!.data).toMatchObject({ status: 'succeeded', attempts: 1 });
  });

  it('cancels a queued task at once, refuses a finished one, and leaves a canceled one unchanged', async () => {
    const id = (await create(offlineEmployee)).data!.data.id;
    expect((await cancel(id)).data?.data).toMatchObject({ status: 'canceled', reservedCredits: 0 });
    expect((await cancel(id)).data?.data.status).toBe('canceled');
    await worker().drain();
    expect((await get(id)).data!.data.status).toBe('canceled');
    const done = (await create(offlineEmployee)).data!.data.id;
    await worker().drain();
    const finished = await cancel(done);
    expect(finished.response.status).toBe(409);
    expect(finished.error?.error.code).toBe('TASK_FINISHED');
  });

  it('stops a running task when cancellation is requested', async () => {
    fake.script({ kind: 'slow', ms: 1_500 });
    const id = (await create(openaiEmployee, 'Slow one.')).data!.data.id;
    const w = worker({ leaseMs: 150 });
    const draining = w.drain();
    for (let i = 0; i < 50 && (await get(id)).data!.data.status !== 'running'; i++) await new Promise((r) => setTimeout(r, 10));
    const requested = await cancel(id);
    expect(requested.data?.data).toMatchObject({ status: 'running' });
    expect(requested.data?.data.cancelRequestedAt).not.toBeNull();
    await draining;
    expect((await get(id)).data!.data).toMatchObject({ status: 'canceled', output: null });
  });

  it('gives a running task back to the queue when its worker shuts down', async () => {
    fake.script({ kind: 'slow', ms: 1_500 });
    const id = (await create(openaiEmployee, 'Interrupted.')).data!.data.id;
    const w = worker({ leaseMs: 10_000 });
    w.start();
    for (let i = 0; i < 100 && (await get(id)).data!.data.status !== 'running'; i++) await new Promise((r) => setTimeout(r, 10));
    await w.stop();
    expect((await get(id)).data!.data).toMatchObject({ status: 'queued', attempts: 0 });
    fake.script();
    await worker().drain();
    expect((await get(id)).data!.data).toMatchObject({ status: 'succeeded', attempts: 1 });
  });

  it('runs as many tasks at once as it has lanes, also when they arrive one by one', async () => {
    const slow = (n: number) => Array.from({ length: n }, () => ({ kind: 'slow' as const, ms: 400 }));
    fake.script(...slow(4));
    const w = worker({ concurrency: 2, leaseMs: 10_000, pollMs: 60_000 });
    w.start();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push((await create(openaiEmployee, `Lane ${i}`)).data!.data.id);
      w.wake();
    }
    const finished = async () =>
      (await Promise.all(ids.map(async (id) => (await get(id)).data!.data.status))).every((s) => s === 'succeeded');
    for (let i = 0; i < 300 && !(await finished()); i++) await new Promise((r) => setTimeout(r, 20));
    await w.stop();
    expect(await finished()).toBe(true);
    expect(fake.peakInFlight()).toBe(2);

    fake.script(...slow(3));
    const queued = [];
    for (let i = 0; i < 3; i++) queued.push((await create(openaiEmployee, `Batch ${i}`)).data!.data.id);
    expect(await worker({ concurrency: 3, leaseMs: 10_000 }).drain()).toBe(3);
    expect(fake.peakInFlight()).toBe(3);
  });

  it('ends cancel-versus-claim races in one consistent state', async () => {
    for (let round = 0; round < 5; round++) {
      const id = (await create(offlineEmployee, `Race ${round}`)).data!.data.id;
      const [canceled] = await Promise.all([cancel(id), worker().drain()]);
      expect([
        [200, undefined],
        [409, 'TASK_FINISHED'],
      ]).toContainEqual([canceled.response.status, canceled.error?.error.code]);
      const task = (await get(id)).data!.data;
      expect(['succeeded', 'canceled']).toContain(task.status);
      expect(task.finishedAt).not.toBeNull();
      if (task.status === 'canceled') expect(task.output).toBeNull();
    }
  });
});
