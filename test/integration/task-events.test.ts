// A task's live events over Server-Sent Events and an organization's event list: every transition and the
// model's text in order, a reconnect with Last-Event-ID that misses and repeats nothing, and two instances
// (each with its own connections to one database) serving each other's tasks.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Db } from '../../src/db/client.js';
import { withService } from '../../src/db/client.js';
import { moveCredits } from '../../src/db/queries/credits.js';
import { claimTask } from '../../src/db/queries/tasks.js';
import { sweepEvents } from '../../src/db/queries/events.js';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createOpenAiProvider } from '../../src/integrations/llm/openai.js';
import { createWorker, type Worker } from '../../src/services/worker.js';
import type { components } from '../../src/generated/api.js';
import { useTestApp } from '../support/app.js';
import { readEventBlocks } from '../support/sse.js';
import { setPlan } from '../support/database.js';
import { startFakeLlm, type FakeLlm } from '../support/fake-llm.js';
import { signUp, startTestServer, type TestServer, type TestUser } from '../support/server.js';

type Event = components['schemas']['Event'];
type Task = components['schemas']['Task'];

const app = useTestApp();
let fake: FakeLlm;
let owner: TestUser;
let outsider: TestUser;
let orgId: string;
let employeeId: string;
let remoteEmployeeId: string;
let worker: Worker;

const client = (user: TestUser = owner) => app.server.client({ accessToken: user.token });

interface Received {
  events: Event[];
  /** Raw lines other than events (the retry hint, heartbeats). */
  comments: string[];
  ended: Promise<void>;
  status: number;
  contentType: string | null;
}

/** Reads a task's event stream as a browser's fetch would; `stopAfter` drops the connection after that many events. */
async function follow(
  baseUrl: string,
  taskId: string,
  options: { lastEventId?: string; stopAfter?: number; token?: string; org?: string } = {},
): Promise<Received> {
  const controller = new AbortController();
  const response = await fetch(`${baseUrl}/v1/organizations/${options.org ?? orgId}/tasks/${taskId}/events`, {
    headers: {
      Authorization: `Bearer ${options.token ?? owner.token}`,
      Accept: 'text/event-stream',
      ...(options.lastEventId ? { 'Last-Event-ID': options.lastEventId } : {}),
    },
    signal: controller.signal,
  });
  const received: Received = {
    events: [],
    comments: [],
    ended: Promise.resolve(),
    status: response.status,
    contentType: response.headers.get('content-type'),
  };
  if (!response.ok || !response.body) {
    await response.text();
    return received;
  }
  received.ended = readEventBlocks(response.body, controller.signal, (block, data) => {
    if (!data) {
      received.comments.push(block);
      return false;
    }
    const event = JSON.parse(data) as Event;
    // The SSE fields agree with the event they carry.
    expect(block).toContain(`id: ${event.id}\nevent: ${event.type}\n`);
    received.events.push(event);
    if (options.stopAfter === undefined || received.events.length < options.stopAfter) return false;
    controller.abort();
    return true;
  });
  return received;
}

const newWorker = (): Worker =>
  createWorker({
    db: app.database.db,
    providers: {
      offline: createOfflineProvider(),
      openai: createOpenAiProvider({ apiKey: 'sk-test-key-0123456789', baseUrl: `${fake.url}/v1`, timeoutMs: 5_000 }),
    },
    log: pino({ level: 'silent' }),
    pollMs: 50,
  });

const createTask = async (input: string, employee = employeeId): Promise<Task> =>
  (await client().POST('/v1/organizations/{orgId}/tasks', { params: { path: { orgId } }, body: { employeeId: employee, input } })).data!
    .data;

beforeAll(async () => {
  fake = await startFakeLlm();
  owner = await signUp(app.database.db, 'events-owner@example.com');
  outsider = await signUp(app.database.db, 'events-outsider@example.com');
  orgId = (await client().POST('/v1/organizations', { body: { name: 'Watchers' } })).data!.data.id;
  await setPlan(app.database.db, orgId, 'pro');
  employeeId = (
    await client().POST('/v1/organizations/{orgId}/employees', {
      params: { path: { orgId } },
      body: { name: 'Narrator', instructions: 'Tell it as it happens.' },
    })
  ).data!.data.id;
  remoteEmployeeId = (
    await client().POST('/v1/organizations/{orgId}/employees', {
      params: { path: { orgId } },
      body: { name: 'Remote narrator', instructions: 'Tell it.', model: 'gpt-4o-mini' },
    })
  ).data!.data.id;
  worker = newWorker();
});
afterAll(async () => {
  await worker.stop();
  await fake?.close();
});

describe('a task event stream', () => {
  it('shows every transition and the streamed text in order, then ends at the final status', async () => {
    const task = await createTask('Narrate the build.');
    const stream = await follow(app.server.baseUrl, task.id);
    expect(stream.status).toBe(200);
    expect(stream.contentType).toMatch(/^text\/event-stream/);
    worker.start();
    await stream.ended;
    const types = stream.events.map((e) => e.type);
    expect(types[0]).toBe('task.queued');
    expect(types[1]).toBe('task.running');
    expect(types.at(-2)).toBe('task.step_completed');
    expect(types.at(-1)).toBe('task.succeeded');
    expect(types.slice(2, -2).every((type) => type === 'task.output_delta')).toBe(true);
    expect(types.filter((type) => type === 'task.output_delta').length).toBeGreaterThan(0);
    // Ids increase; the deltas join to the output; the final event carries the task as getTask shows it.
    const ids = stream.events.map((e) => BigInt(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    const final = (await client().GET('/v1/organizations/{orgId}/tasks/{taskId}', { params: { path: { orgId, taskId: task.id } } })).data!
      .data;
    const text = stream.events
      .filter((e) => e.type === 'task.output_delta')
      .map((e) => (e.data as { text: string }).text)
      .join('');
    expect(text).toBe(final.output);
    expect(stream.events.at(-1)!.data).toEqual(final);
    expect(stream.events.at(-2)!.data).toMatchObject({ step: 1, costCredits: final.costCredits, usage: final.usage, toolCalls: [] });
    expect(stream.events.every((e) => e.taskId === task.id && e.organizationId === orgId)).toBe(true);
    expect(stream.comments[0]).toBe('retry: 2000');
  });

  it("streams a provider's text deltas as they come, through the real OpenAI-compatible adapter", async () => {
    fake.script({ kind: 'ok', text: 'First part. Second part. Third part.', usage: { input: 30, output: 9 } });
    const task = await createTask('Stream it.', remoteEmployeeId);
    const stream = await follow(app.server.baseUrl, task.id);
    worker.start();
    await stream.ended;
    const deltas = stream.events.filter((e) => e.type === 'task.output_delta').map((e) => (e.data as { text: string }).text);
    expect(deltas.join('')).toBe('First part. Second part. Third part.');
    expect(stream.events.at(-1)).toMatchObject({ type: 'task.succeeded', data: { output: 'First part. Second part. Third part.' } });
  });

  it('resumes after Last-Event-ID with nothing missed and nothing repeated', async () => {
    const task = await createTask('Narrate it twice.');
    const first = await follow(app.server.baseUrl, task.id, { stopAfter: 2 });
    worker.start();
    await first.ended;
    expect(first.events.map((e) => e.type)).toEqual(['task.queued', 'task.running']);
    const rest = await follow(app.server.baseUrl, task.id, { lastEventId: first.events[1]!.id });
    await rest.ended;
    const whole = await follow(app.server.baseUrl, task.id);
    await whole.ended;
    expect([...first.events, ...rest.events]).toEqual(whole.events);
    expect(whole.events.at(-1)!.type).toBe('task.succeeded');
    // After the final event there is nothing more: the stream ends at once.
    const after = await follow(app.server.baseUrl, task.id, { lastEventId: whole.events.at(-1)!.id });
    await after.ended;
    expect(after.events).toEqual([]);
  });

  it('is served by any instance: a second one, with its own connections, follows a task the first created and runs', async () => {
    const database = app.database;
    const otherDb: Db = connect(database.url, { max: 3 });
    let other: TestServer | undefined;
    try {
      other = await startTestServer({ db: otherDb });
      const task = await createTask('Narrate it elsewhere.');
      const stream = await follow(other.baseUrl, task.id);
      worker.start();
      await stream.ended;
      expect(stream.events.map((e) => e.type)).toEqual(
        expect.arrayContaining(['task.queued', 'task.running', 'task.step_completed', 'task.succeeded']),
      );
      expect(stream.events.at(-1)!.type).toBe('task.succeeded');
    } finally {
      await other?.close();
      await otherDb.end();
    }
  });

  it('answers 404 to someone outside the organization and 400 to an id it never sent', async () => {
    const task = await createTask('Private narration.');
    const outside = await follow(app.server.baseUrl, task.id, { token: outsider.token });
    expect(outside.status).toBe(404);
    const forged = await fetch(`${app.server.baseUrl}/v1/organizations/${orgId}/tasks/${task.id}/events`, {
      headers: { Authorization: `Bearer ${owner.token}`, 'Last-Event-ID': 'not-a-number' },
    });
    expect(forged.status).toBe(400);
    expect(((await forged.json()) as { error: { details: { field: string }[] } }).error.details[0]!.field).toBe('header.Last-Event-ID');
  });

  it('says task.running again, with the new attempt, when a worker takes over the task of one that died', async () => {
    // No live worker may claim the task before the one that dies: the running one stops, a fresh one waits.
    await worker.stop();
    worker = newWorker();
    const task = await createTask('Outlive your worker.');
    const claimed = await withService(app.database.db, 'test: a worker that dies', (tx) => claimTask(tx, 'dead-worker', 60_000));
    expect(claimed).toMatchObject({ id: task.id, attempts: 1 });
    // It dies: nobody renews its lease, which runs out.
    await app.database.db`update staffroom.tasks set lease_expires_at = now() - interval '1 second' where id = ${task.id}`;
    const stream = await follow(app.server.baseUrl, task.id);
    worker.start();
    await stream.ended;
    const types = stream.events.map((e) => e.type);
    expect(types.slice(0, 3)).toEqual(['task.queued', 'task.running', 'task.running']);
    expect(types.at(-1)).toBe('task.succeeded');
    const running = stream.events.filter((e) => e.type === 'task.running').map((e) => e.data as Task);
    expect(running.map((t) => [t.status, t.attempts])).toEqual([
      ['running', 1],
      ['running', 2],
    ]);
    expect(stream.events.at(-1)!.data).toMatchObject({ status: 'succeeded', attempts: 2 });
    // The organization's list has the same two.
    const listed = (
      await client().GET('/v1/organizations/{orgId}/events', {
        params: { path: { orgId }, query: { after: String(BigInt(stream.events[0]!.id) - 1n), type: 'task.running', limit: 100 } },
      })
    ).data!.data.filter((e) => e.taskId === task.id);
    expect(listed).toEqual(stream.events.filter((e) => e.type === 'task.running'));
  });
});

describe("an organization's events", () => {
  it('lists what happened after an id, oldest first, without the text deltas, page by page', async () => {
    const before = (await client().GET('/v1/organizations/{orgId}/events', { params: { path: { orgId }, query: { limit: 100 } } })).data!;
    let last = before.data.at(-1)?.id;
    let cursor = before.page.nextCursor;
    while (cursor) {
      const page = (await client().GET('/v1/organizations/{orgId}/events', { params: { path: { orgId }, query: { cursor, limit: 100 } } }))
        .data!;
      last = page.data.at(-1)?.id ?? last;
      cursor = page.page.nextCursor;
    }
    const task = await createTask('One more.');
    worker.start();
    await (
      await follow(app.server.baseUrl, task.id)
    ).ended;

    const all: Event[] = [];
    let next: string | null | undefined;
    do {
      const query = next ? { cursor: next, limit: 2 } : { after: last, limit: 2 };
      const page = (await client().GET('/v1/organizations/{orgId}/events', { params: { path: { orgId }, query } })).data!;
      all.push(...page.data);
      next = page.page.nextCursor;
    } while (next);
    // Other tasks of the organization may still be finishing in the background: this one's are in order.
    expect(all.filter((e) => e.taskId === task.id).map((e) => e.type)).toEqual([
      'task.queued',
      'task.running',
      'task.step_completed',
      'task.succeeded',
    ]);
    expect(all.some((e) => e.type === 'task.output_delta')).toBe(false);
    const ids = all.map((e) => BigInt(e.id));
    expect(new Set(ids).size).toBe(ids.length);
    const succeeded = await client().GET('/v1/organizations/{orgId}/events', {
      params: { path: { orgId }, query: { after: last, type: 'task.succeeded' } },
    });
    expect(succeeded.data!.data.map((e) => e.taskId)).toContain(task.id);
    expect(succeeded.data!.data.every((e) => e.type === 'task.succeeded')).toBe(true);
    const outside = await client(outsider).GET('/v1/organizations/{orgId}/events', { params: { path: { orgId } } });
    expect(outside.response.status).toBe(404);
  });

  it('says when the credits run low, once, and again only after they were back above the threshold', async () => {
    const low = (await client().POST('/v1/organizations', { body: { name: 'Thrifty' } })).data!.data.id;
    const lowEvents = async () =>
      (await client().GET('/v1/organizations/{orgId}/events', { params: { path: { orgId: low }, query: { type: 'credits.low' } } })).data!
        .data;
    const adjust = (amount: number, reference: string) =>
      withService(app.database.db, 'test: adjust the balance', (tx) =>
        moveCredits(tx, { orgId: low, kind: 'adjustment', amount, reference, description: 'Test' }),
      );
    // Only a person's first organization has the free credits: this second one of the owner's gets as many.
    await adjust(10_000, 'test:start');
    // The free plan grants 10,000 credits a month: below 1,000 is low.
    await adjust(-9_500, 'test:down');
    await adjust(-100, 'test:down-more');
    expect((await lowEvents()).map((e) => e.data)).toEqual([{ available: 500, threshold: 1_000 }]);
    await adjust(2_000, 'test:up');
    await adjust(-2_000, 'test:down-again');
    expect((await lowEvents()).map((e) => e.data)).toEqual([
      { available: 500, threshold: 1_000 },
      { available: 400, threshold: 1_000 },
    ]);
  });

  it('keeps events 30 days: older ones go', async () => {
    const task = await createTask('Soon history.');
    worker.start();
    await (
      await follow(app.server.baseUrl, task.id)
    ).ended;
    const count = async () =>
      (await app.database.db<{ n: number }[]>`select count(*)::int as n from staffroom.events where task_id = ${task.id}`)[0]!.n;
    expect(await count()).toBeGreaterThan(0);
    await app.database.db`update staffroom.events set created_at = now() - interval '31 days' where task_id = ${task.id}`;
    const swept = await withService(app.database.db, 'test: sweep old events', (tx) => sweepEvents(tx));
    expect(swept).toBeGreaterThan(0);
    expect(await count()).toBe(0);
  });
});
