// Following a task with the SDK: its live events from the real app while a worker runs it, resuming after a
// dropped connection, and polling where the stream is not available (a 404 for the events path, the Prism mock).
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import {
  createStaffroomClient,
  streamTaskEvents,
  unwrap,
  waitForTask,
  type Event,
  type EventOf,
  type StaffroomClientOptions,
  type Task,
} from '../../sdk/index.js';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createWorker, type Worker } from '../../src/services/worker.js';
import { useTestApp } from '../support/app.js';
import { startPrismMock, type PrismMock } from '../support/processes.js';
import { signUp, withContractCheck, type TestUser } from '../support/server.js';
import { streamItemProblems } from '../support/contract.js';

const app = useTestApp();
let owner: TestUser;
let orgId: string;
let employeeId: string;
let worker: Worker;

const sdk = (options: Omit<StaffroomClientOptions, 'baseUrl'> = {}) =>
  withContractCheck(createStaffroomClient({ baseUrl: app.server.baseUrl, accessToken: owner.token, ...options }));

beforeAll(async () => {
  owner = await signUp(app.database.db, 'sdk-events@example.com');
  orgId = (await unwrap(sdk().POST('/v1/organizations', { body: { name: 'Followers' } }))).id;
  await app.database.db`update staffroom.organizations set plan_id = 'pro' where id = ${orgId}`; // several tasks at once
  // No model of its own: the organization's default, which the offline provider runs.
  employeeId = (
    await unwrap(
      sdk().POST('/v1/organizations/{orgId}/employees', {
        params: { path: { orgId } },
        body: { name: 'Offline follower', instructions: 'Answer briefly.', model: null },
      }),
    )
  ).id;
  worker = createWorker({
    db: app.database.db,
    providers: { offline: createOfflineProvider() },
    log: pino({ level: 'silent' }),
    pollMs: 200,
  });
  worker.start();
});
afterAll(async () => {
  await worker?.stop();
});

const createTask = async (input = 'Summarise the week in two lines.') =>
  (await unwrap(sdk().POST('/v1/organizations/{orgId}/tasks', { params: { path: { orgId } }, body: { employeeId, input } }))).id;

describe('waitForTask over the event stream', () => {
  it('sees every event of the task in order, from task.queued to task.succeeded, and resolves with the task', async () => {
    const taskId = await createTask();
    const seen: Event[] = [];
    const task = await waitForTask(sdk(), orgId, taskId, { onEvent: (event) => void seen.push(event), timeoutMs: 20_000 });
    expect(task).toMatchObject({ id: taskId, status: 'succeeded', provider: 'offline' });
    const types = seen.map((event) => event.type);
    expect(types[0]).toBe('task.queued');
    expect(types.at(-1)).toBe('task.succeeded');
    const order = (['task.queued', 'task.running', 'task.output_delta', 'task.step_completed', 'task.succeeded'] as const).map((type) =>
      types.indexOf(type),
    );
    expect(order.every((index) => index >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(seen.every((event) => event.taskId === taskId && event.organizationId === orgId)).toBe(true);
    const ids = seen.map((event) => BigInt(event.id));
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
    // Each message's data is what the stream's `x-event-schema` (the contract's `Event` union) says.
    const eventsPath = '/v1/organizations/{orgId}/tasks/{taskId}/events';
    expect(
      seen.flatMap((event) => streamItemProblems(eventsPath, 'GET', 200, event).map((problem) => `${event.type}: ${problem}`)),
    ).toEqual([]);
    // The union narrows by type: the text deltas add up to the output of the task.succeeded event's task.
    const text = seen.map((event) => (event.type === 'task.output_delta' ? event.data.text : '')).join('');
    const succeeded = seen.find((event): event is EventOf<'task.succeeded'> => event.type === 'task.succeeded');
    expect(text).toBe(succeeded?.data.output);
  });

  it('resumes after lastEventId, and ends when the service ends the stream', async () => {
    const taskId = await createTask();
    await waitForTask(sdk(), orgId, taskId, { timeoutMs: 20_000 });
    const all: Event[] = [];
    for await (const event of streamTaskEvents(sdk(), orgId, taskId)) all.push(event);
    const running = all.find((event) => event.type === 'task.running')!;
    const rest: Event[] = [];
    for await (const event of streamTaskEvents(sdk(), orgId, taskId, { lastEventId: running.id })) rest.push(event);
    expect(rest.map((event) => event.id)).toEqual(all.slice(all.indexOf(running) + 1).map((event) => event.id));
  });

  it('reconnects with Last-Event-ID after a dropped connection, missing and repeating nothing', async () => {
    const taskId = await createTask();
    await waitForTask(sdk(), orgId, taskId, { timeoutMs: 20_000 });
    const expected: string[] = [];
    for await (const event of streamTaskEvents(sdk(), orgId, taskId)) expected.push(event.id);

    const resumedFrom: (string | null)[] = [];
    const client = sdk({
      fetch: async (request) => {
        const response = await fetch(request);
        if (!request.url.endsWith('/events')) return response;
        resumedFrom.push(request.headers.get('last-event-id'));
        // The first connection breaks right after its second message.
        return resumedFrom.length === 1 ? cutAfterMessages(response, 2) : response;
      },
    });
    const ids: string[] = [];
    for await (const event of streamTaskEvents(client, orgId, taskId)) ids.push(event.id);
    expect(ids).toEqual(expected);
    expect(resumedFrom).toEqual([null, expected[1]]);
  });

  it('ends the stream of a task that has already finished', async () => {
    const taskId = await createTask();
    await waitForTask(sdk(), orgId, taskId, { timeoutMs: 20_000 });
    const started = Date.now();
    const types: string[] = [];
    for await (const event of streamTaskEvents(sdk(), orgId, taskId)) types.push(event.type);
    expect(types.at(-1)).toBe('task.succeeded');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('rejects with StaffroomError for a task the caller cannot see', async () => {
    const stranger = await signUp(app.database.db, 'sdk-events-stranger@example.com');
    const taskId = await createTask();
    const error = await waitForTask(sdk({ accessToken: stranger.token }), orgId, taskId).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'StaffroomError', code: 'NOT_FOUND', status: 404 });
  });
});

describe('waitForTask without the event stream', () => {
  it('polls getTask when the events path answers 404', async () => {
    let polls = 0;
    const client = sdk({
      fetch: async (request) => {
        if (request.url.endsWith('/events')) {
          return new Response(
            JSON.stringify({ success: false, error: { code: 'NOT_FOUND', message: 'No such path.', requestId: 'req_proxy' } }),
            {
              status: 404,
              headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'req_proxy' },
            },
          );
        }
        if (/\/tasks\/[^/]+$/.test(new URL(request.url).pathname) && request.method === 'GET') polls++;
        return fetch(request);
      },
    });
    const seen: Event[] = [];
    const task = await waitForTask(client, orgId, await createTask(), { onEvent: (event) => void seen.push(event), timeoutMs: 20_000 });
    expect(task.status).toBe('succeeded');
    expect(polls).toBeGreaterThanOrEqual(1);
    expect(seen).toEqual([]);
  });

  describe('against the Prism mock', () => {
    let prism: PrismMock;
    let prismUrl: string;
    beforeAll(async () => {
      prism = await startPrismMock();
      prismUrl = prism.url;
    });
    afterAll(async () => {
      await prism?.stop();
    });

    it("resolves with the documented task once the mock's canned stream ends", async () => {
      const client = createStaffroomClient({ baseUrl: prismUrl, accessToken: 'mock-token' });
      const task = await waitForTask(client, '3f1c9a52-7d2e-4b8a-9c41-2f6d8e0b7a13', '7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918', {
        timeoutMs: 10_000,
      });
      expect(task).toMatchObject({ id: '7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918', status: 'succeeded' });
    });
  });
});

describe('Event', () => {
  it('is a union told apart by type, each with its own data', () => {
    expectTypeOf<EventOf<'task.succeeded'>['data']>().toExtend<Task>();
    expectTypeOf<EventOf<'task.output_delta'>['data']>().toExtend<{ step: number; attempt: number; text: string }>();
    expectTypeOf<EventOf<'task.step_completed'>['data']['usage']>().toExtend<{ inputTokens: number; outputTokens: number }>();
    expectTypeOf<EventOf<'credits.low'>['data']>().toExtend<{ available: number; threshold: number }>();
    expectTypeOf<EventOf<'task.output_delta'>['data']>().not.toExtend<Task>();
    expectTypeOf<Extract<Event, { type: 'task.queued' | 'billing.updated' }>['type']>().toEqualTypeOf<'task.queued' | 'billing.updated'>();
  });
});

describe('waitForTask options', () => {
  it('rejects with StaffroomTimeoutError after timeoutMs', async () => {
    // With the worker stopped, the task stays queued.
    await worker.stop();
    try {
      const taskId = await createTask();
      const error = await waitForTask(sdk(), orgId, taskId, { timeoutMs: 300 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'StaffroomTimeoutError' });
    } finally {
      worker = createWorker({
        db: app.database.db,
        providers: { offline: createOfflineProvider() },
        log: pino({ level: 'silent' }),
        pollMs: 200,
      });
      worker.start();
    }
  });

  it('stops when the signal aborts', async () => {
    await worker.stop();
    try {
      const taskId = await createTask();
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('left the page')), 200);
      await expect(waitForTask(sdk(), orgId, taskId, { signal: controller.signal })).rejects.toThrow('left the page');
    } finally {
      worker = createWorker({
        db: app.database.db,
        providers: { offline: createOfflineProvider() },
        log: pino({ level: 'silent' }),
        pollMs: 200,
      });
      worker.start();
    }
  });
});

/** The response with its body cut, as by a broken connection, after `count` complete messages. */
function cutAfterMessages(response: Response, count: number): Response {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        text += decoder.decode(value, { stream: true });
        // Messages with data (a block without is the stream's `retry:` setting or a heartbeat).
        const complete = text.split('\n\n').slice(0, -1);
        const messages = complete.filter((block) => block.includes('data:'));
        if (messages.length < count) continue;
        const upTo = complete.indexOf(messages[count - 1]!) + 1;
        controller.enqueue(new TextEncoder().encode(`${complete.slice(0, upTo).join('\n\n')}\n\n`));
        await reader.cancel();
        return controller.error(new TypeError('terminated'));
      }
    },
  });
  return new Response(body, { status: response.status, headers: response.headers });
}
