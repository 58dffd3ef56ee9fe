// Tasks that use tools, over HTTP and the real queue: the model's calls park the task in requires_action, the
// client's outputs queue it again, every step holds and settles its own credits (exactly), and the transcript
// shows it all — through the real OpenAI-compatible and Anthropic adapters against the local fake, and offline.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withService } from '../../src/db/client.js';
import { moveCredits } from '../../src/db/queries/credits.js';
import { createAnthropicProvider } from '../../src/integrations/llm/anthropic.js';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createOpenAiProvider } from '../../src/integrations/llm/openai.js';
import { findModel } from '../../src/services/catalog.js';
import { createWorker, type WorkerOptions } from '../../src/services/worker.js';
import type { components } from '../../src/generated/api.js';
import { useTestApp } from '../support/app.js';
import { setPlan } from '../support/database.js';
import { startFakeLlm, type FakeLlm } from '../support/fake-llm.js';
import { signUp, type TestUser } from '../support/server.js';

type Task = components['schemas']['Task'];
type TaskMessage = components['schemas']['TaskMessage'];

const app = useTestApp();
let fake: FakeLlm;
let owner: TestUser;
let member: TestUser;
let orgId: string;
const employees: Record<'openai' | 'anthropic' | 'offline', string> = { openai: '', anthropic: '', offline: '' };

const client = (user: TestUser = owner) => app.server.client({ accessToken: user.token });
const worker = (options: Partial<WorkerOptions> = {}) =>
  createWorker({
    db: app.database.db,
    providers: {
      offline: createOfflineProvider(),
      openai: createOpenAiProvider({ apiKey: 'sk-test-key-0123456789', baseUrl: `${fake.url}/v1`, timeoutMs: 2_000 }),
      anthropic: createAnthropicProvider({ apiKey: 'sk-ant-test-0123456789', baseUrl: fake.url, timeoutMs: 2_000 }),
    },
    log: pino({ level: 'silent' }),
    retryBaseMs: 10,
    leaseMs: 2_000,
    ...options,
  });

async function create(employeeId: string, input: string, extra: Partial<components['schemas']['TaskCreate']> = {}, org = orgId) {
  const created = await client().POST('/v1/organizations/{orgId}/tasks', {
    params: { path: { orgId: org } },
    body: { employeeId, input, toolUse: 'client', ...extra },
  });
  expect(created.response.status, JSON.stringify(created.error)).toBe(202);
  return created.data!.data;
}
async function get(taskId: string, org = orgId): Promise<Task> {
  return (await client().GET('/v1/organizations/{orgId}/tasks/{taskId}', { params: { path: { orgId: org, taskId } } })).data!.data;
}
const submit = (
  taskId: string,
  outputs: { toolCallId: string; output: string; isError?: boolean }[],
  org = orgId,
  user = owner,
  idempotencyKey?: string,
) =>
  client(user).POST('/v1/organizations/{orgId}/tasks/{taskId}/tool-outputs', {
    params: { path: { orgId: org, taskId }, header: (idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}) as never },
    body: { outputs },
  });
async function transcript(taskId: string, org = orgId): Promise<TaskMessage[]> {
  const all: TaskMessage[] = [];
  let cursor: string | undefined;
  do {
    const page = await client().GET('/v1/organizations/{orgId}/tasks/{taskId}/messages', {
      params: { path: { orgId: org, taskId }, query: { limit: 2, ...(cursor ? { cursor } : {}) } },
    });
    expect(page.response.status).toBe(200);
    all.push(...page.data!.data);
    cursor = page.data!.page.nextCursor ?? undefined;
  } while (cursor);
  return all;
}
async function available(org = orgId): Promise<number> {
  return (await client().GET('/v1/organizations/{orgId}/billing', { params: { path: { orgId: org } } })).data!.data.credits.available;
}
/** The ledger's entries of one task: what it reserved and released nets to zero once it has finished. */
async function ledgerOf(taskId: string, org = orgId) {
  const entries = (
    await client().GET('/v1/organizations/{orgId}/billing/ledger', { params: { path: { orgId: org }, query: { taskId, limit: 100 } } })
  ).data!.data;
  const sum = (kind: string) => entries.filter((e) => e.kind === kind).reduce((total, e) => total + e.amount, 0);
  return { held: 0 - (sum('reservation') + sum('release')) + 0, charged: 0 - sum('usage') + 0, entries };
}

/** A step's cost from the catalog's prices, computed here on its own: Σ tokens × price, rounded up once. */
type Usage = { input: number; output: number; cached?: number };

/** A step's exact cost in picodollars (10^8 to a credit), computed here on its own. */
function exactCost(model: string, usage: Usage): number {
  const { pricing } = findModel(model)!;
  return (
    usage.input * pricing.inputPerMillion + usage.output * pricing.outputPerMillion + (usage.cached ?? 0) * pricing.cachedInputPerMillion
  );
}

/** What each step is charged: the task's exact running total rounded up once, less what earlier steps paid. */
function stepCharges(model: string, usages: Usage[]): number[] {
  let exact = 0;
  let paid = 0;
  return usages.map((usage) => {
    exact += exactCost(model, usage);
    const charge = Math.ceil(exact / 100_000_000) - paid;
    paid += charge;
    return charge;
  });
}

beforeAll(async () => {
  fake = await startFakeLlm();
  owner = await signUp(app.database.db, 'tools-owner@example.com');
  member = await signUp(app.database.db, 'tools-member@example.com');
  orgId = (await client().POST('/v1/organizations', { body: { name: 'Tool users' } })).data!.data.id;
  await setPlan(app.database.db, orgId, 'pro');
  const invitation = await client().POST('/v1/organizations/{orgId}/invitations', {
    params: { path: { orgId } },
    body: { email: 'tools-member@example.com', role: 'member' },
  });
  await client(member).POST('/v1/invitations/accept', { body: { token: invitation.data!.data.token! } });
  const hire = async (name: string, model: string | null) =>
    (
      await client().POST('/v1/organizations/{orgId}/employees', {
        params: { path: { orgId } },
        body: { name, instructions: `You are ${name}.`, model, maxOutputTokens: 512, tools: ['Read', 'Grep', 'mcp__tracker__file_issue'] },
      })
    ).data!.data.id;
  employees.openai = await hire('OpenAI engineer', 'gpt-4o-mini');
  employees.anthropic = await hire('Anthropic engineer', 'claude-haiku-4-5');
  employees.offline = await hire('Offline engineer', null);
});
afterAll(() => fake?.close());

describe.each([
  { provider: 'openai' as const, model: 'gpt-4o-mini' },
  { provider: 'anthropic' as const, model: 'claude-haiku-4-5' },
])('the tool loop through the $provider adapter', ({ provider, model }) => {
  it('calls two tools over two steps (the second two at once), and each step and the whole task cost exactly their usage', async () => {
    const usages = [
      { input: 1_200, output: 40 },
      { input: 1_900, output: 60, cached: 800 },
      { input: 2_600, output: 120, cached: 1_600 },
    ];
    fake.script(
      { kind: 'ok', text: 'Reading it.', toolCalls: [{ name: 'Read', input: { file_path: 'NOTES.md' } }], usage: usages[0] },
      {
        kind: 'ok',
        toolCalls: [
          { name: 'Grep', input: { pattern: 'deploy' } },
          { name: 'Read', input: { file_path: 'deploy.sh', limit: 20 } },
        ],
        usage: usages[1],
      },
      { kind: 'ok', text: 'The deploy runs at 09:00 UTC.', usage: usages[2] },
    );
    const before = await available();
    const sentBefore = fake.received.length;
    const task = await create(employees[provider], 'When does the deploy run?');
    expect(task).toMatchObject({ status: 'queued', toolUse: 'client', steps: 0, maxSteps: 20, pendingToolCalls: null });

    await worker().drain();
    const first = await get(task.id);
    expect(first).toMatchObject({ status: 'requires_action', steps: 1, reservedCredits: 0, output: null });
    expect(first.pendingToolCalls).toEqual([{ id: expect.any(String), name: 'Read', input: { file_path: 'NOTES.md' } }]);
    expect(Date.parse(first.actionExpiresAt!)).toBeGreaterThan(Date.now());
    // Only the employee's available tools are offered: the undefined MCP tool is not.
    const offered = fake.received[sentBefore]!.body.tools as { name?: string; function?: { name: string } }[];
    expect(offered.map((tool) => tool.name ?? tool.function!.name)).toEqual(['Read', 'Grep']);

    const queued = await submit(task.id, [{ toolCallId: first.pendingToolCalls![0]!.id, output: 'Deploys: see deploy.sh' }]);
    expect(queued.response.status).toBe(200);
    expect(queued.data!.data).toMatchObject({ status: 'queued', pendingToolCalls: null, actionExpiresAt: null, attempts: 0 });

    await worker().drain();
    const second = await get(task.id);
    expect(second).toMatchObject({ status: 'requires_action', steps: 2 });
    expect(second.pendingToolCalls!.map((call) => call.name)).toEqual(['Grep', 'Read']);
    const [grep, read] = second.pendingToolCalls!;
    await submit(task.id, [
      { toolCallId: read!.id, output: 'cron 0 9 * * *' },
      { toolCallId: grep!.id, output: 'no match', isError: true },
    ]);

    await worker().drain();
    const done = await get(task.id);
    const costs = stepCharges(model, usages);
    // Rounded up once, over the whole task: never more than each step rounded up on its own, here less for gpt-4o-mini.
    const exactTotal = usages.reduce((sum, usage) => sum + exactCost(model, usage), 0);
    expect(costs[0]! + costs[1]! + costs[2]!).toBe(Math.ceil(exactTotal / 100_000_000));
    expect(done).toMatchObject({
      status: 'succeeded',
      output: 'The deploy runs at 09:00 UTC.',
      provider,
      steps: 3,
      reservedCredits: 0,
      costCredits: costs[0]! + costs[1]! + costs[2]!,
      error: null,
    });
    expect(done.usage).toEqual({
      inputTokens: usages.reduce((sum, u) => sum + u.input, 0),
      outputTokens: usages.reduce((sum, u) => sum + u.output, 0),
      cachedInputTokens: usages.reduce((sum, u) => sum + (u.cached ?? 0), 0),
    });

    const messages = await transcript(task.id);
    expect(messages.map((m) => [m.index, m.role, m.step])).toEqual([
      [0, 'user', null],
      [1, 'assistant', 1],
      [2, 'tool', null],
      [3, 'assistant', 2],
      [4, 'tool', null],
      [5, 'tool', null],
      [6, 'assistant', 3],
    ]);
    const steps = messages.filter((m) => m.role === 'assistant');
    expect(steps.map((m) => m.costCredits)).toEqual(costs);
    expect(steps.map((m) => m.usage)).toEqual(
      usages.map((u) => ({ inputTokens: u.input, outputTokens: u.output, cachedInputTokens: u.cached ?? 0 })),
    );
    expect(steps[0]).toMatchObject({ content: 'Reading it.', toolCalls: [{ name: 'Read', input: { file_path: 'NOTES.md' } }] });
    // The outputs follow the calls' order, whatever order they were sent in.
    expect(messages[4]).toMatchObject({ toolCallId: grep!.id, content: 'no match', isError: true });
    expect(messages[5]).toMatchObject({ toolCallId: read!.id, content: 'cron 0 9 * * *', isError: false });

    // The last call saw the whole conversation, the tool results in the provider's own shape.
    const last = fake.received.at(-1)!.body.messages as { role: string; content: unknown }[];
    const results = JSON.stringify(last);
    expect(results).toContain('cron 0 9 * * *');
    expect(results).toContain(read!.id);

    // Credits: each step held its bound and paid its cost; nothing is held now, and the balance moved by the cost.
    const ledger = await ledgerOf(task.id);
    expect(ledger.held).toBe(0);
    expect(ledger.charged).toBe(done.costCredits);
    expect(ledger.entries.filter((e) => e.kind === 'usage').map((e) => e.reference)).toEqual(
      expect.arrayContaining([`task:${task.id}`, `task:${task.id}:2`, `task:${task.id}:3`]),
    );
    expect(await available()).toBe(before - done.costCredits!);
  });
});

describe('tools an organization defines', () => {
  it('makes an MCP tool usable, and calls whose input its schema refuses are answered to the model, not sent to the client', async () => {
    const unavailable = async () =>
      (
        await client().GET('/v1/organizations/{orgId}/employees/{employeeId}', {
          params: { path: { orgId, employeeId: employees.openai } },
        })
      ).data!.data.unavailableTools;
    expect(await unavailable()).toEqual(['mcp__tracker__file_issue']);

    const schema = {
      type: 'object',
      required: ['title'],
      properties: { title: { type: 'string', minLength: 3 } },
      additionalProperties: false,
    };
    const put = () =>
      client().PUT('/v1/organizations/{orgId}/tools/{toolName}', {
        params: { path: { orgId, toolName: 'mcp__tracker__file_issue' } },
        body: { description: 'Files an issue in the tracker.', inputSchema: schema },
      });
    const created = await put();
    expect(created.response.status).toBe(201);
    expect(created.data!.data).toEqual({
      name: 'mcp__tracker__file_issue',
      description: 'Files an issue in the tracker.',
      builtIn: false,
      writes: true,
      inputSchema: schema,
    });
    expect((await put()).response.status).toBe(200);
    expect(await unavailable()).toEqual([]);
    const listed = await client(member).GET('/v1/organizations/{orgId}/tools', { params: { path: { orgId } } });
    expect(listed.data!.data.map((tool) => tool.name)).toEqual(['mcp__tracker__file_issue']);

    // Members may not define tools; a built-in name and a schema that is not an object's are refused.
    const byMember = await client(member).PUT('/v1/organizations/{orgId}/tools/{toolName}', {
      params: { path: { orgId, toolName: 'mcp__x__y' } },
      body: { description: 'x', inputSchema: { type: 'object' } },
    });
    expect(byMember.response.status).toBe(403);
    const builtIn = await client().PUT('/v1/organizations/{orgId}/tools/{toolName}', {
      params: { path: { orgId, toolName: 'read' } },
      body: { description: 'x', inputSchema: { type: 'object' } },
    });
    expect(builtIn.error?.error).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'path.toolName' }] });
    const notObject = await client().PUT('/v1/organizations/{orgId}/tools/{toolName}', {
      params: { path: { orgId, toolName: 'mcp__x__y' } },
      body: { description: 'x', inputSchema: { type: 'string' } },
    });
    expect(notObject.error?.error).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'body.inputSchema' }] });
    const broken = await client().PUT('/v1/organizations/{orgId}/tools/{toolName}', {
      params: { path: { orgId, toolName: 'mcp__x__y' } },
      body: { description: 'x', inputSchema: { type: 'object', properties: { a: { type: 'nonsense' } } } },
    });
    expect(broken.error?.error).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'body.inputSchema' }] });

    fake.script(
      {
        kind: 'ok',
        toolCalls: [
          { name: 'mcp__tracker__file_issue', input: { title: 'x' } },
          { name: 'Delete', input: {} },
        ],
      },
      { kind: 'ok', toolCalls: [{ name: 'mcp__tracker__file_issue', input: { title: 'Deploy is late' } }] },
      { kind: 'ok', text: 'Filed.' },
    );
    const sentBefore = fake.received.length;
    const task = await create(employees.openai, 'File an issue about the deploy.');
    await worker().drain();
    // The first step's two calls were refused here: the task went on to its second step by itself.
    const waiting = await get(task.id);
    expect(waiting).toMatchObject({ status: 'requires_action', steps: 2 });
    expect(waiting.pendingToolCalls).toEqual([
      { id: expect.any(String), name: 'mcp__tracker__file_issue', input: { title: 'Deploy is late' } },
    ]);
    const offered = fake.received[sentBefore]!.body.tools as { function: { name: string; parameters: unknown } }[];
    expect(offered.find((tool) => tool.function.name === 'mcp__tracker__file_issue')!.function.parameters).toEqual(schema);
    const refused = (await transcript(task.id)).filter((m) => m.role === 'tool');
    expect(refused).toHaveLength(2);
    expect(refused[0]).toMatchObject({ isError: true, content: expect.stringContaining("does not match the tool's schema") });
    expect(refused[1]).toMatchObject({ isError: true, content: expect.stringContaining('There is no tool named Delete') });

    await submit(task.id, [{ toolCallId: waiting.pendingToolCalls![0]!.id, output: 'Issue #12 filed.' }]);
    await worker().drain();
    expect(await get(task.id)).toMatchObject({ status: 'succeeded', output: 'Filed.', steps: 3 });

    const deleted = await client().DELETE('/v1/organizations/{orgId}/tools/{toolName}', {
      params: { path: { orgId, toolName: 'mcp__tracker__file_issue' } },
    });
    expect(deleted.response.status).toBe(204);
    expect(await unavailable()).toEqual(['mcp__tracker__file_issue']);
    const again = await client().DELETE('/v1/organizations/{orgId}/tools/{toolName}', {
      params: { path: { orgId, toolName: 'mcp__tracker__file_issue' } },
    });
    expect(again.response.status).toBe(404);
  });
});

describe('submitToolOutputs', () => {
  it('takes one output per pending call, names every entry that does not fit, and refuses a task that waits for none', async () => {
    const task = await create(employees.offline, '@Read NOTES.md\n@Grep TODO');
    await worker().drain();
    const waiting = await get(task.id);
    expect(waiting.pendingToolCalls!.map((call) => [call.name, call.input])).toEqual([
      ['Read', { file_path: 'NOTES.md' }],
      ['Grep', { pattern: 'TODO' }],
    ]);
    const [read, grep] = waiting.pendingToolCalls!;

    const wrong = await submit(task.id, [
      { toolCallId: read!.id, output: 'a' },
      { toolCallId: read!.id, output: 'b' },
      { toolCallId: 'call_unknown', output: 'c' },
    ]);
    expect(wrong.response.status).toBe(400);
    expect(wrong.error?.error.details).toEqual([
      { field: 'body.outputs[1].toolCallId', message: 'answers a call answered earlier in this request' },
      { field: 'body.outputs[2].toolCallId', message: 'is not a pending call of this task' },
      { field: 'body.outputs', message: `has no output for call ${grep!.id} (Grep)` },
    ]);
    expect((await get(task.id)).status).toBe('requires_action');

    // A member (not only an admin) runs the tools of the organization's tasks.
    const outputs = [
      { toolCallId: read!.id, output: 'line one' },
      { toolCallId: grep!.id, output: '' },
    ];
    const accepted = await submit(task.id, outputs, orgId, member, 'outputs-once');
    expect(accepted.response.status).toBe(200);
    // A retried request with its key answers as the first did and sends nothing twice.
    const replayed = await submit(task.id, outputs, orgId, member, 'outputs-once');
    expect(replayed.response.status).toBe(200);
    expect(replayed.response.headers.get('idempotent-replayed')).toBe('true');
    expect(replayed.data!.data.id).toBe(task.id);
    const twice = await submit(task.id, [
      { toolCallId: read!.id, output: 'line one' },
      { toolCallId: grep!.id, output: '' },
    ]);
    expect(twice.response.status).toBe(409);
    expect(twice.error?.error).toMatchObject({
      code: 'TASK_NOT_AWAITING_OUTPUTS',
      message: 'The task is queued, not waiting for tool outputs.',
    });

    await worker().drain();
    const done = await get(task.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toContain('line one');
    // Without toolUse: client the model is offered nothing, and a line asking for a tool is just text.
    const plain = await client().POST('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId } },
      body: { employeeId: employees.offline, input: '@Read NOTES.md' },
    });
    expect(plain.data!.data.toolUse).toBe('none');
    await worker().drain();
    expect(await get(plain.data!.data.id)).toMatchObject({ status: 'succeeded', steps: 1 });
  });
});

describe('a task waiting for tool outputs', () => {
  it('expires past its deadline: it ends expired, holds nothing, and paid only for its step', async () => {
    const before = await available();
    const task = await create(employees.offline, '@Read NOTES.md');
    // Long enough that the drain's own expiry sweep, on a busy machine, comes before the deadline; then past it.
    await worker({ toolOutputsTimeoutMs: 1_500 }).drain();
    const waiting = await get(task.id);
    expect(waiting.status).toBe('requires_action');
    await new Promise((resolve) => setTimeout(resolve, Date.parse(waiting.actionExpiresAt!) - Date.now() + 50));
    const late = await submit(task.id, [{ toolCallId: waiting.pendingToolCalls![0]!.id, output: 'late' }]);
    expect(late.error?.error.code).toBe('TASK_NOT_AWAITING_OUTPUTS');

    await worker().drain();
    const expired = await get(task.id);
    expect(expired).toMatchObject({ status: 'expired', pendingToolCalls: null, actionExpiresAt: null, reservedCredits: 0, steps: 1 });
    expect(expired.error).toMatchObject({ code: 'expired' });
    expect(expired.finishedAt).not.toBeNull();
    const [step] = (await transcript(task.id)).filter((m) => m.role === 'assistant');
    expect(expired.costCredits).toBe(step!.costCredits);
    const ledger = await ledgerOf(task.id);
    expect(ledger).toMatchObject({ held: 0, charged: expired.costCredits });
    expect(await available()).toBe(before - expired.costCredits!);
    const cancel = await client().POST('/v1/organizations/{orgId}/tasks/{taskId}/cancel', { params: { path: { orgId, taskId: task.id } } });
    expect(cancel.error?.error.code).toBe('TASK_FINISHED');
  });

  it('is canceled with its employee: nobody could send the outputs any more', async () => {
    const employeeId = (
      await client().POST('/v1/organizations/{orgId}/employees', {
        params: { path: { orgId } },
        body: { name: 'Short-lived', instructions: 'Read.', tools: ['Read'] },
      })
    ).data!.data.id;
    const task = await create(employeeId, '@Read NOTES.md');
    await worker().drain();
    expect((await get(task.id)).status).toBe('requires_action');
    await client().DELETE('/v1/organizations/{orgId}/employees/{employeeId}', { params: { path: { orgId, employeeId } } });
    expect(await get(task.id)).toMatchObject({ status: 'canceled', pendingToolCalls: null, reservedCredits: 0 });
    expect(await ledgerOf(task.id)).toMatchObject({ held: 0 });
  });

  it('is canceled at once, keeping what its steps cost and holding nothing', async () => {
    const task = await create(employees.offline, '@Grep TODO');
    await worker().drain();
    expect((await get(task.id)).status).toBe('requires_action');
    const canceled = await client().POST('/v1/organizations/{orgId}/tasks/{taskId}/cancel', {
      params: { path: { orgId, taskId: task.id } },
    });
    expect(canceled.response.status).toBe(200);
    expect(canceled.data!.data).toMatchObject({ status: 'canceled', pendingToolCalls: null, reservedCredits: 0, steps: 1 });
    expect(canceled.data!.data.costCredits).toBeGreaterThan(0);
    expect(await ledgerOf(task.id)).toMatchObject({ held: 0, charged: canceled.data!.data.costCredits });
    const after = await submit(task.id, [{ toolCallId: 'call_x', output: 'x' }]);
    expect(after.error?.error.code).toBe('TASK_NOT_AWAITING_OUTPUTS');
  });
});

describe('credits per step', () => {
  it('fails a task whose balance runs out before a step, having paid only for the steps it made, never below zero', async () => {
    const poor = (await client().POST('/v1/organizations', { body: { name: 'Short of credits' } })).data!.data.id;
    await setPlan(app.database.db, poor, 'pro');
    // Only a person's first organization has the free credits: this second one of the owner's gets as many.
    await withService(app.database.db, 'test: credits', (tx) =>
      moveCredits(tx, { orgId: poor, kind: 'adjustment', amount: 10_000, reference: 'test:credits', description: 'Test balance' }),
    );
    const employeeId = (
      await client().POST('/v1/organizations/{orgId}/employees', {
        params: { path: { orgId: poor } },
        body: { name: 'Reader', instructions: 'Read.', tools: ['Read'], maxOutputTokens: 64 },
      })
    ).data!.data.id;
    const task = await create(employeeId, '@Read big.txt', {}, poor);
    await worker().drain();
    const waiting = await get(task.id, poor);
    expect(waiting.status).toBe('requires_action');
    // Leave a few credits: the next step's prompt, with a 100,000-character output in it, needs far more.
    const left = await available(poor);
    await withService(app.database.db, 'test: set the balance', (tx) =>
      moveCredits(tx, { orgId: poor, kind: 'adjustment', amount: 5 - left, reference: 'test:short', description: 'Test balance' }),
    );
    await submit(task.id, [{ toolCallId: waiting.pendingToolCalls![0]!.id, output: 'x'.repeat(100_000) }], poor);
    await worker().drain();
    const failed = await get(task.id, poor);
    expect(failed).toMatchObject({ status: 'failed', steps: 1, reservedCredits: 0 });
    expect(failed.error!.code).toBe('insufficient_credits');
    expect(failed.error!.message).toMatch(/^Step 2 needs up to \d+ credits and 5 are available/);
    expect(await available(poor)).toBe(5);
    const ledger = await ledgerOf(task.id, poor);
    expect(ledger).toMatchObject({ held: 0, charged: failed.costCredits });

    // Bought credits, the conversation goes on from where it stopped.
    await withService(app.database.db, 'test: top up', (tx) =>
      moveCredits(tx, { orgId: poor, kind: 'adjustment', amount: 100_000, reference: 'test:top-up', description: 'Test balance' }),
    );
    const continued = await create(employeeId, 'Go on.', { previousTaskId: task.id }, poor);
    expect(continued.previousTaskId).toBe(task.id);
    await worker().drain();
    const done = await get(continued.id, poor);
    expect(done.status).toBe('succeeded');
    expect(done.output).toContain('[offline]');
    expect((await transcript(continued.id, poor)).map((m) => m.role)).toEqual(['user', 'assistant']);
  });

  it('stops at maxSteps: a model still calling tools then fails the task with max_steps_reached', async () => {
    const task = await create(employees.offline, '@Read NOTES.md', { maxSteps: 1 });
    expect(task.maxSteps).toBe(1);
    await worker().drain();
    const failed = await get(task.id);
    expect(failed).toMatchObject({ status: 'failed', steps: 1, pendingToolCalls: null });
    expect(failed.error!.code).toBe('max_steps_reached');
    expect(await ledgerOf(task.id)).toMatchObject({ held: 0, charged: failed.costCredits });
  });
});

describe('previousTaskId', () => {
  it('continues a finished task of the same employee with its whole conversation, and refuses one under way', async () => {
    fake.script({ kind: 'ok', text: 'First answer.' }, { kind: 'ok', text: 'Second answer.' });
    const first = await create(employees.anthropic, 'Remember the number 7.');
    await worker().drain();
    expect((await get(first.id)).status).toBe('succeeded');
    const second = await create(employees.anthropic, 'Which number?', { previousTaskId: first.id });
    await worker().drain();
    expect(await get(second.id)).toMatchObject({ status: 'succeeded', output: 'Second answer.' });
    const sent = fake.received.at(-1)!.body.messages as { role: string; content: unknown }[];
    expect(sent.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(JSON.stringify(sent)).toContain('Remember the number 7.');

    const underWay = await create(employees.offline, '@Read NOTES.md');
    const refused = await client().POST('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId } },
      body: { employeeId: employees.offline, input: 'Next.', previousTaskId: underWay.id },
    });
    expect(refused.response.status).toBe(409);
    expect(refused.error?.error.code).toBe('TASK_NOT_FINISHED');
    const otherEmployee = await client().POST('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId } },
      body: { employeeId: employees.openai, input: 'Next.', previousTaskId: first.id },
    });
    expect(otherEmployee.error?.error).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'body.previousTaskId' }] });
    await client().POST('/v1/organizations/{orgId}/tasks/{taskId}/cancel', { params: { path: { orgId, taskId: underWay.id } } });
  });
});
