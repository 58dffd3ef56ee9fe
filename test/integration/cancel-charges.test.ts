// A task canceled while its answer streams: the provider call stops within a second (the worker hears the
// database's notice, or asks while the call runs), and the step is paid for what it consumed — the prompt and the
// output that streamed, as the provider counted them or estimated at ceil(bytes / 4) — through the real
// OpenAI-compatible and Anthropic adapters against the local fake; the ledger still adds up. The same for a
// deleted employee or organization, and for a call whose deadline passes mid-answer.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withService } from '../../src/db/client.js';
import { moveCredits } from '../../src/db/queries/credits.js';
import { createAnthropicProvider } from '../../src/integrations/llm/anthropic.js';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createOpenAiProvider } from '../../src/integrations/llm/openai.js';
import { ProviderError } from '../../src/integrations/llm/provider.js';
import { findModel } from '../../src/services/catalog.js';
import { createWorker, type Worker, type WorkerOptions } from '../../src/services/worker.js';
import type { components } from '../../src/generated/api.js';
import { useTestApp } from '../support/app.js';
import { setPlan } from '../support/database.js';
import { startFakeLlm, type FakeLlm, type FakeReply, type FakeStream } from '../support/fake-llm.js';
import { signUp, type TestUser } from '../support/server.js';

type Event = components['schemas']['Event'];
type TaskMessage = components['schemas']['TaskMessage'];

const app = useTestApp();
let fake: FakeLlm;
let owner: TestUser;
let orgId: string;
const employees = { openai: '', anthropic: '' };
const models = { openai: 'gpt-4o-mini', anthropic: 'claude-haiku-4-5' } as const;
const instructions = (name: string) => `You are ${name}. Write at length.`;

const client = () => app.server.client({ accessToken: owner.token });
/** A worker. The tests that start() one give it a cancelPollMs past their length: a cancel reaches it only by the notice. */
const worker = (options: Partial<WorkerOptions> & { timeoutMs?: number } = {}): Worker =>
  createWorker({
    db: app.database.db,
    providers: {
      offline: createOfflineProvider(),
      openai: createOpenAiProvider({ apiKey: 'sk-test-key-0123456789', baseUrl: `${fake.url}/v1`, timeoutMs: options.timeoutMs ?? 30_000 }),
      anthropic: createAnthropicProvider({ apiKey: 'sk-ant-test-0123456789', baseUrl: fake.url, timeoutMs: options.timeoutMs ?? 30_000 }),
    },
    log: pino({ level: 'silent' }),
    // Lease renewals (a third of the lease) come far too late to be how a cancel is heard here.
    leaseMs: 60_000,
    pollMs: 50,
    retryBaseMs: 10,
    ...options,
  });

/** A long answer, a word per event: 400 words at 20 ms or more each outlast any test by seconds. */
const longAnswer = (usage: { input: number; output: number; cached?: number }, extra: Partial<FakeReply> = {}): FakeReply => ({
  kind: 'ok',
  text: Array.from({ length: 400 }, (_, i) => `word${i}`).join(' '),
  everyMs: 20,
  usage,
  ...(extra as object),
});
/** Events the fake sends in a second, at the pace of longAnswer: more than that after a cancel is too late. */
const eventsPerSecond = 1_000 / 20;

const bytes = (text: string) => Buffer.byteLength(text);
const estimate = (n: number) => Math.ceil(n / 4);
/** What the worker counts for a first step's prompt: the instructions, the input and 64 bytes for the chat format. */
const promptBytes = (name: string, input: string) => bytes(instructions(name)) + bytes(input) + 64;

/** A step's cost from the catalog's prices, computed here on its own: Σ tokens × price, rounded up once. */
function stepCost(model: string, usage: { inputTokens: number; outputTokens: number; cachedInputTokens: number }): number {
  const { pricing } = findModel(model)!;
  const microDollars =
    usage.inputTokens * pricing.inputPerMillion +
    usage.outputTokens * pricing.outputPerMillion +
    usage.cachedInputTokens * pricing.cachedInputPerMillion;
  return Math.ceil(microDollars / 100_000_000);
}

async function createTask(employeeId: string, input: string, org = orgId): Promise<string> {
  const created = await client().POST('/v1/organizations/{orgId}/tasks', { params: { path: { orgId: org } }, body: { employeeId, input } });
  expect(created.response.status, JSON.stringify(created.error)).toBe(202);
  return created.data!.data.id;
}
const getTask = async (taskId: string) =>
  (await client().GET('/v1/organizations/{orgId}/tasks/{taskId}', { params: { path: { orgId, taskId } } })).data!.data;
const cancel = (taskId: string) =>
  client().POST('/v1/organizations/{orgId}/tasks/{taskId}/cancel', { params: { path: { orgId, taskId } } });
async function steps(taskId: string): Promise<TaskMessage[]> {
  const page = await client().GET('/v1/organizations/{orgId}/tasks/{taskId}/messages', { params: { path: { orgId, taskId } } });
  return page.data!.data.filter((m) => m.role === 'assistant');
}

/** The task's step and ledger as the database has them (also for a deleted organization, which the API hides). */
async function settled(taskId: string) {
  const db = app.database.db;
  const [task] = await db<
    { organizationId: string; status: string; costCredits: number; reservedCredits: number; errorCode: string | null }[]
  >`
    select organization_id as "organizationId", status, cost_credits::float8 as "costCredits", reserved_credits::float8 as "reservedCredits",
           error_code as "errorCode"
    from staffroom.tasks where id = ${taskId}`;
  const messages = await db<
    { content: string; inputTokens: number; outputTokens: number; cachedInputTokens: number; costCredits: number }[]
  >`
    select content, input_tokens as "inputTokens", output_tokens as "outputTokens", cached_input_tokens as "cachedInputTokens",
           cost_credits::float8 as "costCredits"
    from staffroom.task_messages where task_id = ${taskId} and role = 'assistant' order by index`;
  const entries = await db<{ kind: string; amount: number }[]>`
    select kind, amount::float8 as amount from staffroom.credit_ledger where task_id = ${taskId}`;
  const sum = (kind: string) => entries.filter((e) => e.kind === kind).reduce((total, e) => total + e.amount, 0);
  const [books] = await db<{ sum: number; available: number }[]>`
    select (select coalesce(sum(amount), 0)::float8 from staffroom.credit_ledger where organization_id = ${task!.organizationId}) as sum,
           (select available::float8 from staffroom.credit_accounts where organization_id = ${task!.organizationId}) as available`;
  return {
    task: task!,
    steps: messages,
    // 0 - x + 0: no -0 for a sum of nothing.
    held: 0 - (sum('reservation') + sum('release')) + 0,
    charged: 0 - sum('usage') + 0,
    books: books!,
  };
}

/** Expects the step to be charged exactly `usage` at the model's price, and the books to add up. */
async function expectCharged(
  taskId: string,
  model: string,
  usage: { inputTokens: number; outputTokens: number; cachedInputTokens: number },
) {
  const { task, steps: recorded, held, charged, books } = await settled(taskId);
  expect(recorded).toHaveLength(1);
  expect(recorded[0]).toMatchObject(usage);
  const cost = stepCost(model, usage);
  expect(cost).toBeGreaterThan(0);
  expect(recorded[0]!.costCredits).toBe(cost);
  expect(task).toMatchObject({ costCredits: cost, reservedCredits: 0 });
  expect(charged).toBe(cost);
  expect(held).toBe(0);
  expect(books.sum).toBe(books.available);
  return recorded[0]!;
}

/** Follows a task's event stream as a browser would, until its final status. */
async function follow(taskId: string) {
  const response = await fetch(`${app.server.baseUrl}/v1/organizations/${orgId}/tasks/${taskId}/events`, {
    headers: { Authorization: `Bearer ${owner.token}`, Accept: 'text/event-stream' },
  });
  expect(response.status).toBe(200);
  const events: Event[] = [];
  let sawText: () => void = () => undefined;
  const firstText = new Promise<void>((resolve) => (sawText = resolve));
  const ended = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const data = buffer
          .slice(0, end)
          .split('\n')
          .filter((line) => line.startsWith('data: '))
          .map((line) => line.slice(6))
          .join('\n');
        buffer = buffer.slice(end + 2);
        if (!data) continue;
        const event = JSON.parse(data) as Event;
        events.push(event);
        if (event.type === 'task.output_delta') sawText();
      }
    }
  })();
  const text = () =>
    events
      .filter((e) => e.type === 'task.output_delta')
      .map((e) => (e.data as { text: string }).text)
      .join('');
  return { events, firstText, ended, text };
}

/** The stream the fake started for the latest call, once it has. */
async function latestStream(before: number): Promise<FakeStream> {
  for (let i = 0; i < 500 && fake.streams.length <= before; i++) await new Promise((r) => setTimeout(r, 10));
  return fake.streams.at(-1)!;
}

/** The provider's call was aborted: the connection closed before the last event, within a second's worth of them. */
async function expectAborted(stream: FakeStream, sentAtCancel: number) {
  await stream.closed;
  expect(stream.closedEarly).toBe(true);
  expect(stream.sent).toBeLessThan(stream.events);
  expect(stream.sent - sentAtCancel).toBeLessThan(eventsPerSecond);
}

const words = (text: string) => text.match(/\s*\S+\s*/gy)?.length ?? 0;

beforeAll(async () => {
  fake = await startFakeLlm();
  owner = await signUp(app.database.db, 'cancel-owner@example.com');
  orgId = (await client().POST('/v1/organizations', { body: { name: 'Cancellers' } })).data!.data.id;
  await setPlan(app.database.db, orgId, 'pro');
  for (const provider of ['openai', 'anthropic'] as const) {
    employees[provider] = (
      await client().POST('/v1/organizations/{orgId}/employees', {
        params: { path: { orgId } },
        body: { name: provider, instructions: instructions(provider), model: models[provider], maxOutputTokens: 1_024 },
      })
    ).data!.data.id;
  }
});
afterAll(() => fake?.close());

describe('a task canceled while its answer streams', () => {
  it('stops the OpenAI-compatible call at once through the notice, and pays the usage the provider reported so far', async () => {
    const heard: string[] = [];
    const listener = await app.database.db.listen('staffroom_task_cancel_requested', (payload) => heard.push(payload));
    fake.script(longAnswer({ input: 900, output: 400 }, { usageReport: 'every-chunk' }));
    const before = fake.streams.length;
    const taskId = await createTask(employees.openai, 'Write it all.');
    const events = await follow(taskId);
    const w = worker({ cancelPollMs: 60_000 });
    w.start();
    try {
      await events.firstText;
      const stream = await latestStream(before);
      const requested = await cancel(taskId);
      const sentAtCancel = stream.sent;
      expect(requested.data?.data).toMatchObject({ status: 'running' });
      await events.ended;
      await expectAborted(stream, sentAtCancel);
    } finally {
      await w.stop();
      await listener.unlisten();
    }
    expect(await getTask(taskId)).toMatchObject({ status: 'canceled', output: null, reservedCredits: 0 });
    const [step] = await steps(taskId);
    // What streamed is the transcript's text; the fake counts a token per word, on every chunk.
    expect(step!.content).toBe(events.text());
    expect(words(step!.content)).toBeGreaterThan(0);
    await expectCharged(taskId, models.openai, { inputTokens: 900, outputTokens: words(step!.content), cachedInputTokens: 0 });
    expect(events.events.at(-2)).toMatchObject({ type: 'task.step_completed', data: { costCredits: step!.costCredits } });
    expect(events.events.at(-1)).toMatchObject({ type: 'task.canceled' });
    // The notice names no task: any session may listen.
    expect(heard).toContain('');
    expect(heard.every((payload) => payload === '')).toBe(true);
  });

  it('stops the Anthropic call while a draining worker asks, paying the input message_start reported and the output streamed', async () => {
    fake.script(longAnswer({ input: 1_200, output: 400, cached: 300 }));
    const before = fake.streams.length;
    const taskId = await createTask(employees.anthropic, 'Write it all, please.');
    const events = await follow(taskId);
    const draining = worker({ cancelPollMs: 100 }).drain();
    await events.firstText;
    const stream = await latestStream(before);
    await cancel(taskId);
    const sentAtCancel = stream.sent;
    await Promise.all([events.ended, draining]);
    await expectAborted(stream, sentAtCancel);
    expect(stream.protocol).toBe('anthropic');
    const [step] = await steps(taskId);
    expect(step!.content).toBe(events.text());
    // message_start's output count came before the text: the output is estimated from what streamed.
    await expectCharged(taskId, models.anthropic, {
      inputTokens: 1_200,
      outputTokens: estimate(bytes(step!.content)),
      cachedInputTokens: 300,
    });
    expect((await getTask(taskId)).status).toBe('canceled');
  });

  it('estimates both prompt and output at ceil(bytes / 4) from a provider that reports no usage', async () => {
    fake.script(longAnswer({ input: 5_000, output: 400 }, { usageReport: 'never' }));
    const before = fake.streams.length;
    const input = 'Write it all; the server counts nothing.';
    const taskId = await createTask(employees.openai, input);
    const events = await follow(taskId);
    const w = worker({ cancelPollMs: 60_000 });
    w.start();
    try {
      await events.firstText;
      const stream = await latestStream(before);
      await cancel(taskId);
      const sentAtCancel = stream.sent;
      await events.ended;
      await expectAborted(stream, sentAtCancel);
    } finally {
      await w.stop();
    }
    const [step] = await steps(taskId);
    expect(step!.content).toBe(events.text());
    await expectCharged(taskId, models.openai, {
      inputTokens: estimate(promptBytes('openai', input)),
      outputTokens: estimate(bytes(step!.content)),
      cachedInputTokens: 0,
    });
  });

  it('pays the prompt alone when the provider had accepted the call but nothing had streamed', async () => {
    fake.script(longAnswer({ input: 5_000, output: 400 }, { usageReport: 'never', firstAfterMs: 20_000 }));
    const before = fake.streams.length;
    const input = 'Think long before you write.';
    const taskId = await createTask(employees.openai, input);
    const draining = worker({ cancelPollMs: 100 }).drain();
    const stream = await latestStream(before);
    // The headers are on their way: give the adapter a moment to read them.
    await new Promise((r) => setTimeout(r, 300));
    await cancel(taskId);
    await draining;
    await stream.closed;
    expect(stream).toMatchObject({ closedEarly: true, sent: 0 });
    const step = await expectCharged(taskId, models.openai, {
      inputTokens: estimate(promptBytes('openai', input)),
      outputTokens: 0,
      cachedInputTokens: 0,
    });
    expect(step.content).toBe('');
    expect((await getTask(taskId)).status).toBe('canceled');
  });

  it('pays nothing when the provider had not answered at all', async () => {
    fake.script({ kind: 'slow', ms: 5_000 });
    const taskId = await createTask(employees.openai, 'Never answered.');
    const w = worker({ cancelPollMs: 60_000 });
    w.start();
    try {
      for (let i = 0; i < 200 && (await getTask(taskId)).status !== 'running'; i++) await new Promise((r) => setTimeout(r, 10));
      await cancel(taskId);
      for (let i = 0; i < 200 && (await getTask(taskId)).status === 'running'; i++) await new Promise((r) => setTimeout(r, 10));
    } finally {
      await w.stop();
    }
    const { task, steps: recorded, charged, held, books } = await settled(taskId);
    expect(task).toMatchObject({ status: 'canceled', costCredits: 0, reservedCredits: 0 });
    expect(recorded).toEqual([]);
    expect({ charged, held }).toEqual({ charged: 0, held: 0 });
    expect(books.sum).toBe(books.available);
  });
});

describe('a step stopped by something else than a cancel', () => {
  it('stops when its employee is deleted mid-answer, and pays what streamed', async () => {
    const employeeId = (
      await client().POST('/v1/organizations/{orgId}/employees', {
        params: { path: { orgId } },
        body: { name: 'temp', instructions: instructions('temp'), model: models.openai, maxOutputTokens: 1_024 },
      })
    ).data!.data.id;
    fake.script(longAnswer({ input: 700, output: 400 }, { usageReport: 'every-chunk' }));
    const before = fake.streams.length;
    const taskId = await createTask(employeeId, 'Write until you are let go.');
    const events = await follow(taskId);
    const w = worker({ cancelPollMs: 60_000 });
    w.start();
    try {
      await events.firstText;
      const stream = await latestStream(before);
      const deleted = await client().DELETE('/v1/organizations/{orgId}/employees/{employeeId}', {
        params: { path: { orgId, employeeId } },
      });
      const sentAtCancel = stream.sent;
      expect(deleted.response.ok).toBe(true);
      await events.ended;
      await expectAborted(stream, sentAtCancel);
    } finally {
      await w.stop();
    }
    const [step] = await steps(taskId);
    await expectCharged(taskId, models.openai, { inputTokens: 700, outputTokens: words(step!.content), cachedInputTokens: 0 });
    expect((await getTask(taskId)).status).toBe('canceled');
  });

  it('stops when its organization is deleted mid-answer, and pays what streamed', async () => {
    const org = (await client().POST('/v1/organizations', { body: { name: 'Closing down' } })).data!.data.id;
    // A second organization starts without free credits.
    await withService(app.database.db, 'test: a balance to spend', (tx) =>
      moveCredits(tx, { orgId: org, kind: 'adjustment', amount: 10_000, reference: 'test:closing', description: 'Test balance' }),
    );
    const employeeId = (
      await client().POST('/v1/organizations/{orgId}/employees', {
        params: { path: { orgId: org } },
        body: { name: 'anthropic', instructions: instructions('anthropic'), model: models.anthropic, maxOutputTokens: 1_024 },
      })
    ).data!.data.id;
    fake.script(longAnswer({ input: 800, output: 400 }));
    const before = fake.streams.length;
    const taskId = await createTask(employeeId, 'Write until the lights go out.', org);
    const draining = worker({ cancelPollMs: 100 }).drain();
    const stream = await latestStream(before);
    for (let i = 0; i < 500 && stream.sent < 10; i++) await new Promise((r) => setTimeout(r, 10));
    const deleted = await client().DELETE('/v1/organizations/{orgId}', { params: { path: { orgId: org } } });
    const sentAtCancel = stream.sent;
    expect(deleted.response.ok).toBe(true);
    await draining;
    await expectAborted(stream, sentAtCancel);
    const { task, steps: recorded } = await settled(taskId);
    expect(task.status).toBe('canceled');
    await expectCharged(taskId, models.anthropic, {
      inputTokens: 800,
      outputTokens: estimate(bytes(recorded[0]!.content)),
      cachedInputTokens: 0,
    });
  });

  it('ends `failed` with `timeout` when the call passes its deadline mid-answer, paying what streamed instead of retrying', async () => {
    fake.script(longAnswer({ input: 600, output: 400 }, { usageReport: 'every-chunk' }));
    const before = fake.streams.length;
    const calls = fake.received.length;
    const taskId = await createTask(employees.openai, 'Write more than fits in the time.');
    await worker({ timeoutMs: 1_000 }).drain();
    const stream = await latestStream(before);
    await stream.closed;
    expect(stream.closedEarly).toBe(true);
    expect(fake.received.length - calls).toBe(1);
    const { task, steps: recorded } = await settled(taskId);
    expect(task).toMatchObject({ status: 'failed', errorCode: 'timeout' });
    expect(recorded[0]!.content.length).toBeGreaterThan(0);
    await expectCharged(taskId, models.openai, { inputTokens: 600, outputTokens: words(recorded[0]!.content), cachedInputTokens: 0 });
  });
});

describe('the adapters, for a call aborted mid-answer', () => {
  it.each([
    ['openai', () => createOpenAiProvider({ apiKey: 'sk-test-key-0123456789', baseUrl: `${fake.url}/v1` })],
    ['anthropic', () => createAnthropicProvider({ apiKey: 'sk-ant-test-0123456789', baseUrl: fake.url })],
  ])('%s: the error says what streamed and what the provider had counted', async (name, make) => {
    fake.script(longAnswer({ input: 321, output: 400, cached: 21 }, { usageReport: 'every-chunk' }));
    const controller = new AbortController();
    let text = '';
    const error = await make()
      .complete({
        model: 'some-model',
        system: 'Be long.',
        messages: [{ role: 'user', content: 'Go.' }],
        maxOutputTokens: 1_024,
        signal: controller.signal,
        onDelta: (delta) => {
          text += delta;
          if (words(text) === 5) controller.abort();
        },
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    const { partial } = error as ProviderError;
    expect(partial).toMatchObject({ accepted: true, output: text, outputBytes: bytes(text) });
    // OpenAI-compatible: the counts of the last chunk read; Anthropic: message_start's input, no output count after the text.
    expect(partial!.usage).toEqual(
      name === 'openai' ? { inputTokens: 321, cachedInputTokens: 21, outputTokens: 5 } : { inputTokens: 321, cachedInputTokens: 21 },
    );
  });
});
