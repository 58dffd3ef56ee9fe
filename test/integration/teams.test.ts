// Teams, over HTTP and the real queue: a lead (toolUse team) hands work to other employees of its organization
// with `Agent`, waits in waiting_for_team, and goes on with their results; members share a board and send each
// other messages; limits answer the model, cancel cascades, and every member pays for its own steps — offline and
// through the real OpenAI-compatible adapter against the local fake.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAnthropicProvider } from '../../src/integrations/llm/anthropic.js';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createOpenAiProvider } from '../../src/integrations/llm/openai.js';
import { withService } from '../../src/db/client.js';
import { settleTask } from '../../src/db/queries/credits.js';
import * as taskQueries from '../../src/db/queries/tasks.js';
import { createWorker } from '../../src/services/worker.js';
import type { components } from '../../src/generated/api.js';
import { useTestApp } from '../support/app.js';
import { setPlan } from '../support/database.js';
import { startFakeLlm, type FakeLlm } from '../support/fake-llm.js';
import { signUp, type TestUser } from '../support/server.js';

type Task = components['schemas']['Task'];
type TaskMessage = components['schemas']['TaskMessage'];
type Event = components['schemas']['Event'];

const app = useTestApp();
let fake: FakeLlm;
let owner: TestUser;
let outsider: TestUser;
let orgId: string;
let otherOrgId: string;
const ids: Record<string, string> = {};

const client = (user: TestUser = owner) => app.server.client({ accessToken: user.token });
const worker = () =>
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
    concurrency: 2,
  });
/** Runs the queue until nothing is due: members, then the lead they wake, and so on. */
async function settle(): Promise<void> {
  while ((await worker().drain()) > 0);
}

const leadTools = ['Agent', 'TeamCreate', 'TeamDelete', 'TaskCreate', 'TaskList', 'TaskGet', 'TaskUpdate', 'SendMessage', 'Read'];
const memberTools = ['TaskList', 'TaskGet', 'TaskUpdate', 'SendMessage', 'Read', 'Agent'];

async function hire(org: string, name: string, slug: string, tools: string[], model: string | null = null, user = owner) {
  const created = await client(user).POST('/v1/organizations/{orgId}/employees', {
    params: { path: { orgId: org } },
    body: { name, slug, instructions: `You are ${name}.`, model, maxOutputTokens: 512, tools },
  });
  expect(created.response.status, JSON.stringify(created.error)).toBe(201);
  return created.data!.data.id;
}
async function create(employeeId: string, input: string, org = orgId, user = owner) {
  const created = await client(user).POST('/v1/organizations/{orgId}/tasks', {
    params: { path: { orgId: org } },
    body: { employeeId, input, toolUse: 'team' },
  });
  expect(created.response.status, JSON.stringify(created.error)).toBe(202);
  return created.data!.data;
}
async function get(taskId: string, org = orgId): Promise<Task> {
  return (await client().GET('/v1/organizations/{orgId}/tasks/{taskId}', { params: { path: { orgId: org, taskId } } })).data!.data;
}
async function members(rootTaskId: string, org = orgId): Promise<Task[]> {
  const listed = await client().GET('/v1/organizations/{orgId}/tasks', {
    params: { path: { orgId: org }, query: { rootTaskId, limit: 100 } },
  });
  expect(listed.response.status).toBe(200);
  return listed.data!.data.sort((a, b) => (a.memberName ?? '').localeCompare(b.memberName ?? ''));
}
async function transcript(taskId: string, org = orgId): Promise<TaskMessage[]> {
  const page = await client().GET('/v1/organizations/{orgId}/tasks/{taskId}/messages', {
    params: { path: { orgId: org, taskId }, query: { limit: 100 } },
  });
  return page.data!.data;
}
async function eventsOf(taskId: string, org = orgId): Promise<Event[]> {
  const all: Event[] = [];
  let cursor: string | undefined;
  do {
    const page = await client().GET('/v1/organizations/{orgId}/events', {
      params: { path: { orgId: org }, query: { limit: 100, ...(cursor ? { cursor } : {}) } },
    });
    all.push(...page.data!.data);
    cursor = page.data!.page.nextCursor ?? undefined;
  } while (cursor);
  return all.filter((event) => event.taskId === taskId);
}
async function available(org = orgId): Promise<number> {
  return (await client().GET('/v1/organizations/{orgId}/billing', { params: { path: { orgId: org } } })).data!.data.credits.available;
}
/** What the ledger says a task held (nothing once it has finished) and was charged. */
async function ledgerOf(taskId: string, org = orgId) {
  const entries = (
    await client().GET('/v1/organizations/{orgId}/billing/ledger', { params: { path: { orgId: org }, query: { taskId, limit: 100 } } })
  ).data!.data;
  const sum = (kind: string) => entries.filter((e) => e.kind === kind).reduce((total, e) => total + e.amount, 0);
  return { held: 0 - (sum('reservation') + sum('release')), charged: 0 - sum('usage') };
}
const submit = (taskId: string, outputs: { toolCallId: string; output: string }[]) =>
  client().POST('/v1/organizations/{orgId}/tasks/{taskId}/tool-outputs', { params: { path: { orgId, taskId } }, body: { outputs } });

beforeAll(async () => {
  fake = await startFakeLlm();
  owner = await signUp(app.database.db, 'team-owner@example.com');
  outsider = await signUp(app.database.db, 'team-outsider@example.com');
  orgId = (await client().POST('/v1/organizations', { body: { name: 'A team' } })).data!.data.id;
  await setPlan(app.database.db, orgId, 'pro');
  otherOrgId = (await client(outsider).POST('/v1/organizations', { body: { name: 'Another team' } })).data!.data.id;
  await setPlan(app.database.db, otherOrgId, 'pro');
  ids.lead = await hire(orgId, 'Team lead', 'lead-engineer', leadTools);
  ids.reviewer = await hire(orgId, 'Reviewer', 'reviewer', memberTools);
  ids.implementer = await hire(orgId, 'Implementer', 'implementer', memberTools);
  ids.gptLead = await hire(orgId, 'GPT lead', 'gpt-lead', leadTools, 'gpt-4o-mini');
  ids.gptReviewer = await hire(orgId, 'GPT reviewer', 'gpt-reviewer', memberTools, 'gpt-4o-mini');
  ids.gptTester = await hire(orgId, 'GPT tester', 'gpt-tester', memberTools, 'gpt-4o-mini');
  ids.claudeLead = await hire(orgId, 'Claude lead', 'claude-lead', leadTools, 'claude-haiku-4-5');
  await hire(orgId, 'Claude reviewer', 'claude-reviewer', memberTools, 'claude-haiku-4-5');
  await hire(orgId, 'Claude tester', 'claude-tester', memberTools, 'claude-haiku-4-5');
  ids.outsiderLead = await hire(otherOrgId, 'Outside lead', 'outside-lead', leadTools, null, outsider);
});
afterAll(() => fake?.close());

describe('a lead and two specialists, offline', () => {
  it('delegates to both in one step, they update the board and message each other, and the lead answers with both results', async () => {
    const before = await available();
    const reviewerPrompt = [
      '@TaskUpdate {"taskId": "1", "status": "completed", "owner": "reviewer"}',
      '@SendMessage implementer: The plan is sound; keep the migration reversible.',
    ].join('\n');
    const lead = await create(
      ids.lead!,
      [
        '@TeamCreate release-review',
        '@TaskCreate Review the plan: Check the release plan for risks',
        '@TaskCreate Implement the migration: Write the reversible migration',
        `@Agent ${JSON.stringify({ subagent_type: 'reviewer', description: 'Review the plan', prompt: reviewerPrompt })}`,
        '@Agent implementer: @Read db/migrations/0042.sql',
      ].join('\n'),
    );
    expect(lead).toMatchObject({ toolUse: 'team', memberName: 'team-lead', parentTaskId: null, rootTaskId: null, depth: 0 });

    await worker().drain();
    let team = await members(lead.id);
    expect(team.map((m) => [m.memberName, m.depth, m.parentTaskId, m.rootTaskId, m.toolUse])).toEqual([
      ['implementer', 1, lead.id, lead.id, 'team'],
      ['reviewer', 1, lead.id, lead.id, 'team'],
    ]);
    // The implementer waits for its client tool; the reviewer has finished; the lead waits for its team.
    await settle();
    expect((await get(lead.id)).status).toBe('waiting_for_team');
    team = await members(lead.id);
    const [implementer, reviewer] = team;
    expect(reviewer).toMatchObject({ status: 'succeeded' });
    expect(implementer).toMatchObject({ status: 'requires_action' });
    expect(implementer!.pendingToolCalls).toEqual([
      { id: expect.any(String), name: 'Read', input: { file_path: 'db/migrations/0042.sql' } },
    ]);

    // The board: what the lead created and the reviewer completed.
    const board = await client().GET('/v1/organizations/{orgId}/tasks/{taskId}/board', {
      params: { path: { orgId, taskId: reviewer!.id } },
    });
    expect(board.response.status).toBe(200);
    expect(board.data!.data.map((item) => [item.id, item.subject, item.status, item.owner])).toEqual([
      ['1', 'Review the plan', 'completed', 'reviewer'],
      ['2', 'Implement the migration', 'pending', null],
    ]);

    // The client runs the implementer's Read; the implementer reads the reviewer's message at its next step.
    expect(
      (await submit(implementer!.id, [{ toolCallId: implementer!.pendingToolCalls![0]!.id, output: 'create table ...' }])).response.status,
    ).toBe(200);
    await settle();

    const done = await get(lead.id);
    expect(done.status).toBe('succeeded');
    team = await members(lead.id);
    expect(team.map((m) => m.status)).toEqual(['succeeded', 'succeeded']);
    // The reviewer's message reached the implementer as a user turn: with its input, or after its Read (whichever
    // step came first after it was sent), and the implementer's answer quotes it.
    const implementerTranscript = await transcript(team[0]!.id);
    const note = 'Message from reviewer:\nThe plan is sound; keep the migration reversible.';
    expect(implementerTranscript.filter((m) => m.role === 'user').map((m) => m.content)).toEqual(
      expect.arrayContaining(['@Read db/migrations/0042.sql', note]),
    );
    expect(implementerTranscript.filter((m) => m.role === 'assistant')).toHaveLength(2);
    expect(team[0]!.output).toContain('create table ...');

    // The lead's transcript: its calls, the board's answers, each member's result naming it, then the message.
    const leadTranscript = await transcript(lead.id);
    const calls = leadTranscript[1]!.toolCalls;
    expect(calls.map((call) => call.name)).toEqual(['TeamCreate', 'TaskCreate', 'TaskCreate', 'Agent', 'Agent']);
    const results = leadTranscript.filter((m) => m.role === 'tool');
    expect(results).toHaveLength(5);
    for (const member of team) {
      const result = results.find((m) => m.toolCallId === member.parentToolCallId)!;
      expect(result).toMatchObject({ isError: false });
      expect(result.content).toContain(`Result of team member ${member.memberName} (task ${member.id}):\n${member.output!}`);
    }
    // The lead's answer quotes both results.
    expect(done.output).toContain(team[0]!.id);
    expect(done.output).toContain(team[1]!.id);

    const messages = await client().GET('/v1/organizations/{orgId}/tasks/{taskId}/team-messages', {
      params: { path: { orgId, taskId: lead.id } },
    });
    expect(messages.data!.data.map((m) => [m.fromName, m.toName, m.deliveredAt !== null])).toEqual([['reviewer', 'implementer', true]]);

    // Events on the lead's own stream: each member's start and end, and the wait between.
    const types = (await eventsOf(lead.id)).map((event) => event.type);
    expect(types.filter((type) => type.startsWith('task.subtask'))).toEqual([
      'task.subtask_started',
      'task.subtask_started',
      'task.subtask_finished',
      'task.subtask_finished',
    ]);
    expect(types).toContain('task.waiting_for_team');
    const finishedEvents = (await eventsOf(lead.id)).filter((event) => event.type === 'task.subtask_finished');
    expect(finishedEvents.map((event) => event.data).sort((a, b) => String(a.memberName).localeCompare(String(b.memberName)))).toEqual(
      team.map((m) => ({
        taskId: m.id,
        parentTaskId: lead.id,
        toolCallId: m.parentToolCallId,
        employeeId: m.employeeId,
        memberName: m.memberName,
        status: 'succeeded',
        costCredits: m.costCredits,
      })),
    );

    // Every task paid its own steps and holds nothing; the tree's cost is theirs summed, and the balance moved by it.
    let total = 0;
    for (const task of [done, ...team]) {
      const ledger = await ledgerOf(task.id);
      expect(ledger.held).toBe(0);
      expect(ledger.charged).toBe(task.costCredits);
      total += task.costCredits!;
    }
    expect(done.treeCostCredits).toBe(total);
    expect(team.map((m) => m.treeCostCredits)).toEqual(team.map((m) => m.costCredits));
    expect(await available()).toBe(before - total);
  });

  it('answers the model past the depth limit and the member limit, and for an employee it cannot name', async () => {
    const deep = await create(ids.lead!, '@Agent reviewer: @Agent implementer: @Agent reviewer: too deep');
    await settle();
    expect(await get(deep.id)).toMatchObject({ status: 'succeeded' });
    const chain = await members(deep.id);
    expect(chain.map((m) => m.depth).sort()).toEqual([1, 2]);
    const bottom = chain.find((m) => m.depth === 2)!;
    const refused = (await transcript(bottom.id)).find((m) => m.role === 'tool')!;
    expect(refused).toMatchObject({ isError: true });
    expect(refused.content).toContain('the depth limit is 2');

    const many = await create(ids.lead!, Array.from({ length: 9 }, (_, i) => `@Agent reviewer: part ${i + 1}`).join('\n'));
    await settle();
    expect(await get(many.id)).toMatchObject({ status: 'succeeded' });
    expect(await members(many.id)).toHaveLength(8);
    const manyResults = (await transcript(many.id)).filter((m) => m.role === 'tool');
    expect(manyResults.filter((m) => m.isError).map((m) => m.content)).toEqual([expect.stringContaining('8 members, its limit')]);

    // Another organization's lead cannot name this organization's employees.
    const outside = await client(outsider).POST('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId: otherOrgId } },
      body: { employeeId: ids.outsiderLead!, input: '@Agent reviewer: read their files', toolUse: 'team' },
    });
    await settle();
    const outsideTask = (
      await client(outsider).GET('/v1/organizations/{orgId}/tasks/{taskId}', {
        params: { path: { orgId: otherOrgId, taskId: outside.data!.data.id } },
      })
    ).data!.data;
    expect(outsideTask.status).toBe('succeeded');
    expect(outsideTask.output).toContain('no employee of this organization has the slug reviewer');
    const noMembers = await client(outsider).GET('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId: otherOrgId }, query: { rootTaskId: outsideTask.id } },
    });
    expect(noMembers.data!.data).toEqual([]);
  });

  it('cancels the whole team with its lead, releasing every reservation', async () => {
    const before = await available();
    const lead = await create(ids.lead!, '@Agent implementer: @Read a.ts\n@Agent reviewer: @Read b.ts');
    await settle();
    expect((await get(lead.id)).status).toBe('waiting_for_team');
    expect((await members(lead.id)).map((m) => m.status)).toEqual(['requires_action', 'requires_action']);
    const canceled = await client().POST('/v1/organizations/{orgId}/tasks/{taskId}/cancel', {
      params: { path: { orgId, taskId: lead.id } },
    });
    expect(canceled.response.status).toBe(200);
    expect(canceled.data!.data.status).toBe('canceled');
    const team = await members(lead.id);
    expect(team.map((m) => m.status)).toEqual(['canceled', 'canceled']);
    let total = 0;
    for (const task of [await get(lead.id), ...team]) {
      const ledger = await ledgerOf(task.id);
      expect(ledger.held).toBe(0);
      expect(ledger.charged).toBe(task.costCredits);
      total += task.costCredits!;
    }
    expect(await available()).toBe(before - total);
  });

  it('a client tool and a delegation in one step: outputs first, then the team', async () => {
    const lead = await create(ids.lead!, '@Read plan.md\n@Agent implementer: @Read c.ts');
    await settle();
    const waiting = await get(lead.id);
    expect(waiting.status).toBe('requires_action');
    expect(waiting.pendingToolCalls!.map((call) => call.name)).toEqual(['Read']);
    const queued = await submit(lead.id, [{ toolCallId: waiting.pendingToolCalls![0]!.id, output: 'the plan' }]);
    expect(queued.data!.data.status).toBe('waiting_for_team');
    const [member] = await members(lead.id);
    await submit(member!.id, [{ toolCallId: member!.pendingToolCalls![0]!.id, output: 'the code' }]);
    await settle();
    expect(await get(lead.id)).toMatchObject({ status: 'succeeded' });
  });

  it('counts a team as one of the plan’s concurrent tasks, waiting included, its members not at all', async () => {
    await setPlan(app.database.db, orgId, 'free');
    try {
      const lead = await create(ids.lead!, '@Agent implementer: @Read d.ts\n@Agent reviewer: @Read e.ts');
      await settle();
      expect((await members(lead.id)).map((m) => m.status)).toEqual(['requires_action', 'requires_action']);
      const second = await client().POST('/v1/organizations/{orgId}/tasks', {
        params: { path: { orgId } },
        body: { employeeId: ids.reviewer!, input: 'another' },
      });
      expect(second.response.status).toBe(429);
      expect(second.error!.error.code).toBe('TASK_LIMIT_REACHED');
      await client().POST('/v1/organizations/{orgId}/tasks/{taskId}/cancel', { params: { path: { orgId, taskId: lead.id } } });
    } finally {
      await setPlan(app.database.db, orgId, 'pro');
    }
  });
});

describe.each([
  { provider: 'openai' as const, lead: 'gptLead', reviewer: 'gpt-reviewer', tester: 'gpt-tester' },
  { provider: 'anthropic' as const, lead: 'claudeLead', reviewer: 'claude-reviewer', tester: 'claude-tester' },
])('a team through the $provider adapter', ({ provider, lead: leadEmployee, reviewer, tester }) => {
  it('runs two members in parallel from one step and gives the lead both results as its calls’ outputs', async () => {
    fake.script(
      {
        kind: 'ok',
        text: 'Splitting the work.',
        toolCalls: [
          { name: 'Agent', input: { description: 'Review', prompt: 'Review the change.', subagent_type: reviewer } },
          { name: 'Agent', input: { description: 'Test', prompt: 'Test the change.', subagent_type: tester } },
        ],
        usage: { input: 900, output: 60 },
      },
      { kind: 'ok', text: 'Member answer one.', usage: { input: 300, output: 20 } },
      { kind: 'ok', text: 'Member answer two.', usage: { input: 310, output: 25 } },
      { kind: 'ok', text: 'Both came back fine.', usage: { input: 1500, output: 30 } },
    );
    const lead = await create(ids[leadEmployee]!, 'Ship the change.');
    await settle();
    const done = await get(lead.id);
    expect(done).toMatchObject({ status: 'succeeded', output: 'Both came back fine.', provider });
    const team = await members(lead.id);
    expect(team.map((m) => [m.memberName, m.status])).toEqual([
      [reviewer, 'succeeded'],
      [tester, 'succeeded'],
    ]);
    expect(team.map((m) => m.output).sort()).toEqual(['Member answer one.', 'Member answer two.']);
    // The lead's last request carried both results, each as the output of the call that started its member, in
    // the provider's own shape (a `tool` message, or a `tool_result` block).
    const last = fake.received.at(-1)!.body.messages as Record<string, unknown>[];
    const results = last.flatMap((message) =>
      message.role === 'tool'
        ? [{ id: message.tool_call_id, content: String(message.content) }]
        : Array.isArray(message.content)
          ? (message.content as Record<string, unknown>[])
              .filter((block) => block.type === 'tool_result')
              .map((block) => ({ id: block.tool_use_id, content: String(block.content) }))
          : [],
    );
    for (const member of team) expect(results.find((result) => result.id === member.parentToolCallId)!.content).toContain(member.output!);
    expect(done.treeCostCredits).toBe(done.costCredits! + team[0]!.costCredits! + team[1]!.costCredits!);
  });
});

describe('a team started with an API key', () => {
  it('runs within the key’s organization, its members made by the key too', async () => {
    const key = await client().POST('/v1/organizations/{orgId}/api-keys', { params: { path: { orgId } }, body: { name: 'teams' } });
    const asKey = app.server.client({ apiKey: key.data!.data.secret! });
    const created = await asKey.POST('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId } },
      body: { employeeId: ids.lead!, input: '@Agent reviewer: @TaskList', toolUse: 'team' },
    });
    expect(created.response.status).toBe(202);
    await settle();
    expect((await get(created.data!.data.id)).status).toBe('succeeded');
    const [member] = await members(created.data!.data.id);
    const [row] = await app.database.db<{ key: string | null; org: string }[]>`
      select created_by_key as key, organization_id as org from staffroom.tasks where id = ${member!.id}`;
    expect(row).toEqual({ key: key.data!.data.id, org: orgId });
    // The key reads the team it started, and nothing of another organization's.
    expect(
      (await asKey.GET('/v1/organizations/{orgId}/tasks/{taskId}/board', { params: { path: { orgId, taskId: member!.id } } })).response
        .status,
    ).toBe(200);
    const foreign = await asKey.GET('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId: otherOrgId }, query: { rootTaskId: member!.id } },
    });
    expect(foreign.response.status).toBe(404);
  });
});

describe('a published team, imported', () => {
  it('imports a lead and a reviewer with every team tool available, and runs them as written', async () => {
    const imported: Record<string, string> = {};
    for (const file of ['team-lead.md', 'reviewer.md']) {
      const content = readFileSync(resolve(import.meta.dirname, '../fixtures/agents/team', file), 'utf8');
      const created = await client(outsider).POST('/v1/organizations/{orgId}/employees/import', {
        params: { path: { orgId: otherOrgId } },
        body: { content },
      });
      expect(created.response.status, JSON.stringify(created.error)).toBe(201);
      expect(created.data!.data.unavailableTools).toEqual([]);
      imported[created.data!.data.slug] = created.data!.data.id;
    }
    // The lead's file names a model this test runs no provider for: the organization's default runs it instead.
    await client(outsider).PATCH('/v1/organizations/{orgId}/employees/{employeeId}', {
      params: { path: { orgId: otherOrgId, employeeId: imported['team-lead']! } },
      body: { model: null },
    });
    const created = await client(outsider).POST('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId: otherOrgId } },
      body: {
        employeeId: imported['team-lead']!,
        toolUse: 'team',
        input: [
          '@TeamCreate change-42',
          '@TaskCreate Review correctness: Check the change for bugs',
          '@Agent reviewer: @TaskUpdate {"taskId": "1", "status": "in_progress", "owner": "reviewer"}',
          '@Agent {"description": "Summarise", "prompt": "Summarise the change."}',
        ].join('\n'),
      },
    });
    const leadId = created.data!.data.id;
    await settle();
    const lead = (
      await client(outsider).GET('/v1/organizations/{orgId}/tasks/{taskId}', { params: { path: { orgId: otherOrgId, taskId: leadId } } })
    ).data!.data;
    expect(lead.status).toBe('succeeded');
    const team = (
      await client(outsider).GET('/v1/organizations/{orgId}/tasks', {
        params: { path: { orgId: otherOrgId }, query: { rootTaskId: leadId } },
      })
    ).data!.data;
    // Without subagent_type, the work goes to another task of the lead's own employee.
    expect(team.map((m) => [m.memberName, m.employeeId, m.status]).sort()).toEqual([
      ['reviewer', imported.reviewer, 'succeeded'],
      ['team-lead-2', imported['team-lead'], 'succeeded'],
    ]);
    const board = await client(outsider).GET('/v1/organizations/{orgId}/tasks/{taskId}/board', {
      params: { path: { orgId: otherOrgId, taskId: leadId } },
    });
    expect(board.data!.data).toEqual([
      expect.objectContaining({ id: '1', subject: 'Review correctness', status: 'in_progress', owner: 'reviewer' }),
    ]);
    // This organization's board is not another's: the first organization cannot read it.
    const foreign = await client().GET('/v1/organizations/{orgId}/tasks/{taskId}/board', { params: { path: { orgId, taskId: leadId } } });
    expect(foreign.response.status).toBe(404);
  });

  it('answers a member that tries to end the team, or writes to a teammate that has finished or does not exist', async () => {
    const lead = await create(
      ids.lead!,
      ['@Agent lead-engineer: @TeamDelete', '@Agent implementer: @SendMessage nobody: hello'].join('\n'),
    );
    await settle();
    const team = await members(lead.id);
    const quoted = Object.fromEntries(team.map((m) => [m.memberName, m.output!]));
    expect(quoted['lead-engineer']).toContain("only the team's lead");
    expect(quoted.implementer).toContain('no member of this team is named nobody');
    // The lead, once its members finished, cannot write to them.
    const after = await create(ids.lead!, '@Agent reviewer: done soon');
    await settle();
    const [finished] = await members(after.id);
    const late = await client().POST('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId } },
      body: { employeeId: ids.lead!, input: '@SendMessage reviewer: too late', toolUse: 'team', previousTaskId: after.id },
    });
    await settle();
    expect(finished!.status).toBe('succeeded');
    expect((await get(late.data!.data.id)).output).toContain('no member of this team is named reviewer');
  });
});

describe("the board's blockers", () => {
  it('TaskUpdate links items both ways, TaskList shows what still blocks, and a deleted item blocks nothing', async () => {
    const lead = await create(
      ids.lead!,
      [
        '@TaskCreate Write the schema: The tables',
        '@TaskCreate Write the queries: Against the tables',
        '@TaskCreate Write the docs: Of the queries',
        '@TaskUpdate {"taskId": "2", "addBlockedBy": ["1"], "owner": "implementer"}',
        '@TaskUpdate {"taskId": "2", "addBlocks": ["3"]}',
        '@TaskList',
        '@TaskGet 2',
        '@TaskUpdate 1 completed',
        '@TaskUpdate 3 deleted',
        '@TaskList',
      ].join('\n'),
    );
    await settle();
    const results = (await transcript(lead.id)).filter((m) => m.role === 'tool').map((m) => m.content);
    expect(results[5]).toBe(
      [
        '#1 [pending] Write the schema',
        '#2 [pending] Write the queries (owner: implementer) [blocked by #1]',
        '#3 [pending] Write the docs [blocked by #2]',
      ].join('\n'),
    );
    expect(JSON.parse(results[6]!)).toMatchObject({ id: '2', owner: 'implementer', blockedBy: ['1'], blocks: ['3'] });
    expect(results[8]).toBe('Task #3 deleted.');
    // Completed blockers no longer block; a deleted item is gone from the board and from what it blocked.
    expect(results[9]).toBe(['#1 [completed] Write the schema', '#2 [pending] Write the queries (owner: implementer)'].join('\n'));
    const board = await client().GET('/v1/organizations/{orgId}/tasks/{taskId}/board', { params: { path: { orgId, taskId: lead.id } } });
    expect(board.data!.data.map((item) => [item.id, item.status, item.blockedBy, item.blocks])).toEqual([
      ['1', 'completed', [], ['2']],
      ['2', 'pending', ['1'], []],
    ]);
  });
});

describe("the board's bounds", () => {
  it('answers a call past them with an error and changes nothing', async () => {
    const big = 'x'.repeat(11_000);
    const lead = await create(
      ids.lead!,
      ['@TaskCreate Keep it small: One item', `@TaskUpdate ${JSON.stringify({ taskId: '1', metadata: { notes: big } })}`].join('\n'),
    );
    await settle();
    const results = (await transcript(lead.id)).filter((m) => m.role === 'tool');
    expect(results.map((m) => [m.isError, m.content])).toEqual([
      [false, 'Task #1 created successfully: Keep it small'],
      [true, "Not done: the input of TaskUpdate is past the bounds of the team's board or messages."],
    ]);
    const board = await client().GET('/v1/organizations/{orgId}/tasks/{taskId}/board', { params: { path: { orgId, taskId: lead.id } } });
    expect(board.data!.data).toEqual([expect.objectContaining({ id: '1', metadata: {} })]);
  });
});

describe('a message to a task waiting for its team', () => {
  it('wakes it: the calls of members still working are answered so, and their results come later as their messages', async () => {
    // The reviewer writes to the lead and then waits for a client tool; so does the implementer, without writing.
    const lead = await create(
      ids.lead!,
      [
        `@Agent ${JSON.stringify({ subagent_type: 'reviewer', description: 'Review', prompt: '@SendMessage team-lead: @Read lead-notes.md\n@Read r.md' })}`,
        '@Agent implementer: @Read i.md',
      ].join('\n'),
    );
    await settle();
    // The message woke the lead; both members still worked, so both calls were answered that they do, and the
    // lead, told by the message to read a file, now waits for that output while its members wait for theirs.
    const woken = await get(lead.id);
    expect(woken.status).toBe('requires_action');
    expect(woken.pendingToolCalls!.map((call) => [call.name, call.input])).toEqual([['Read', { file_path: 'lead-notes.md' }]]);
    const team = await members(lead.id);
    expect(team.map((m) => [m.memberName, m.status])).toEqual([
      ['implementer', 'requires_action'],
      ['reviewer', 'requires_action'],
    ]);
    const leadTranscript = await transcript(lead.id);
    const stillWorking = leadTranscript.filter((m) => m.role === 'tool');
    expect(stillWorking.map((m) => m.content).sort()).toEqual(
      team
        .map(
          (m) =>
            `Team member ${m.memberName} (task ${m.id}) is still working; its result will come as a message from ${m.memberName} when it finishes.`,
        )
        .sort(),
    );
    expect(leadTranscript.at(-2)).toMatchObject({ role: 'user', content: 'Message from reviewer:\n@Read lead-notes.md' });
    expect((await eventsOf(lead.id)).map((event) => event.type)).toEqual(
      expect.arrayContaining(['task.waiting_for_team', 'task.running', 'task.requires_action']),
    );

    // The members finish while the lead waits for its own output: their results are messages to it.
    for (const member of team)
      await submit(member.id, [{ toolCallId: member.pendingToolCalls![0]!.id, output: `${member.memberName} read it` }]);
    await settle();
    expect((await members(lead.id)).map((m) => m.status)).toEqual(['succeeded', 'succeeded']);
    const messages = (
      await client().GET('/v1/organizations/{orgId}/tasks/{taskId}/team-messages', { params: { path: { orgId, taskId: lead.id } } })
    ).data!.data;
    expect(messages.map((m) => [m.fromName, m.toName, m.summary, m.deliveredAt === null])).toEqual([
      ['reviewer', 'team-lead', '@Read lead-notes.md', false],
      [expect.any(String), 'team-lead', expect.stringMatching(/^Result of /), true],
      [expect.any(String), 'team-lead', expect.stringMatching(/^Result of /), true],
    ]);

    // Its output in, the lead reads both results and answers with them.
    const waiting = await get(lead.id);
    await submit(lead.id, [{ toolCallId: waiting.pendingToolCalls![0]!.id, output: 'notes' }]);
    await settle();
    const done = await get(lead.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toContain('Result of team member reviewer');
    expect(done.output).toContain('reviewer read it');
    expect(done.output).toContain('implementer read it');
    let total = 0;
    for (const task of [done, ...(await members(lead.id))]) {
      expect((await ledgerOf(task.id)).held).toBe(0);
      total += task.costCredits!;
    }
    expect(done.treeCostCredits).toBe(total);
  });
});

describe('an Agent call with run_in_background', () => {
  it('is answered at once; the member works on, and its result comes to the lead as its message', async () => {
    const lead = await create(
      ids.lead!,
      [
        `@Agent ${JSON.stringify({ subagent_type: 'reviewer', description: 'Background', prompt: '@Read bg.md', run_in_background: true })}`,
        '@Read lead.md',
      ].join('\n'),
    );
    await settle();
    // The lead waits only for its own client tool: the background member is not waited for.
    const waiting = await get(lead.id);
    expect(waiting.status).toBe('requires_action');
    const [member] = await members(lead.id);
    expect(member).toMatchObject({ status: 'requires_action', parentTaskId: lead.id });
    const answered = (await transcript(lead.id)).find((m) => m.role === 'tool')!;
    expect(answered).toMatchObject({ toolCallId: member!.parentToolCallId, isError: false });
    expect(answered.content).toBe(
      `Team member reviewer (task ${member!.id}) started in the background; its result will come as a message from reviewer when it finishes.`,
    );
    await submit(member!.id, [{ toolCallId: member!.pendingToolCalls![0]!.id, output: 'background findings' }]);
    await settle();
    await submit(lead.id, [{ toolCallId: waiting.pendingToolCalls![0]!.id, output: 'lead notes' }]);
    await settle();
    const done = await get(lead.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toContain('Message: Message from reviewer:\nResult of team member reviewer');
    expect(done.output).toContain('background findings');
    expect(done.treeCostCredits).toBe(done.costCredits! + (await get(member!.id)).costCredits!);
  });
});

describe('TeamDelete', () => {
  it('ends the team from its lead: the members still working are canceled, their reservations released', async () => {
    // The reviewer asks the lead to end the team, then waits for a client tool; the message wakes the lead.
    const lead = await create(
      ids.lead!,
      `@Agent ${JSON.stringify({ subagent_type: 'reviewer', description: 'Review', prompt: '@SendMessage team-lead: @TeamDelete\n@Read r.md' })}`,
    );
    await settle();
    const done = await get(lead.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toContain('Team ended; 1 unfinished member(s) canceled.');
    const [member] = await members(lead.id);
    expect(member).toMatchObject({ memberName: 'reviewer', status: 'canceled', pendingToolCalls: null });
    for (const task of [done, member!]) expect((await ledgerOf(task.id)).held).toBe(0);
  });
});

describe("the worker's transactions", () => {
  it('tries a step again when Postgres ends its transaction for a serialization failure, without calling the model again', async () => {
    // The first time this task's step is recorded, the database refuses it as a concurrent transaction would.
    const db = app.database.db;
    await db`create schema if not exists test_hooks`;
    await db`create sequence if not exists test_hooks.refusals`;
    await db`create table if not exists test_hooks.targets (task_id uuid primary key)`;
    await db.unsafe(`
      create or replace function test_hooks.refuse_once() returns trigger language plpgsql security definer as $$
      begin
        if new.role = 'assistant' and new.task_id in (select task_id from test_hooks.targets)
           and nextval('test_hooks.refusals') = 1 then
          raise exception 'could not serialize access' using errcode = '40001';
        end if;
        return new;
      end $$`);
    await db`create trigger refuse_once before insert on staffroom.task_messages for each row execute function test_hooks.refuse_once()`;
    try {
      const lines: { level: number; msg: string }[] = [];
      const once = createWorker({
        db,
        providers: { openai: createOpenAiProvider({ apiKey: 'sk-test-key-0123456789', baseUrl: `${fake.url}/v1`, timeoutMs: 2_000 }) },
        log: pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) }),
      });
      fake.script({ kind: 'ok', text: 'Done once.', usage: { input: 400, output: 10 } });
      const task = await client().POST('/v1/organizations/{orgId}/tasks', {
        params: { path: { orgId } },
        body: { employeeId: ids.gptReviewer!, input: 'Only once.', toolUse: 'team' },
      });
      await db`insert into test_hooks.targets values (${task.data!.data.id})`;
      const sent = fake.received.length;
      await once.drain();
      const done = await get(task.data!.data.id);
      expect(done).toMatchObject({ status: 'succeeded', output: 'Done once.', steps: 1 });
      expect(fake.received.length - sent).toBe(1);
      expect((await transcript(done.id)).map((m) => m.role)).toEqual(['user', 'assistant']);
      expect(await ledgerOf(done.id)).toEqual({ held: 0, charged: done.costCredits });
      expect(lines.map((line) => line.msg)).toEqual(['transaction ended by a concurrent one; trying it again']);
    } finally {
      await db`drop trigger refuse_once on staffroom.task_messages`;
      await db`drop schema test_hooks cascade`;
    }
  });
});

describe('the order locks are taken in', () => {
  it("a cancel of the team and a member's step, meeting on a busy credit account, never deadlock", async () => {
    const lead = await create(ids.lead!, '@Agent implementer: @Read order.md');
    await settle();
    const [member] = await members(lead.id);
    await submit(member!.id, [{ toolCallId: member!.pendingToolCalls![0]!.id, output: 'read' }]);
    // The member is queued again: a worker of our own claims it, as for its next step.
    const claimed = await withService(app.database.db, 'test', (tx) => taskQueries.claimTask(tx, 'worker-lock-order', 60_000));
    expect(claimed?.id).toBe(member!.id);

    // Another transaction holds the organization's credit account (a step of another task settling, say).
    let release!: () => void;
    const released = new Promise<void>((done) => (release = done));
    let holding!: () => void;
    const held = new Promise<void>((done) => (holding = done));
    const busy = app.database.db.begin(async (tx) => {
      await tx`select 1 from staffroom.credit_accounts where organization_id = ${orgId} for update`;
      holding();
      await released;
    });
    await held;
    // The cancel takes the lead's row and the member's before it waits for the account; the member's step, which
    // takes its own row before the account, waits behind the cancel instead of holding a row the cancel needs.
    const canceling = client().POST('/v1/organizations/{orgId}/tasks/{taskId}/cancel', { params: { path: { orgId, taskId: lead.id } } });
    await new Promise((done) => setTimeout(done, 300));
    const stepping = withService(app.database.db, 'test', (tx) => taskQueries.holdStep(tx, member!.id, 'worker-lock-order', 1)).then(
      () => 'held',
      (error: { code?: string; hint?: string }) => (error.code === '40P01' ? 'deadlock' : (error.hint ?? String(error))),
    );
    await new Promise((done) => setTimeout(done, 300));
    release();
    await busy;
    const canceled = await canceling;
    expect(canceled.response.status, JSON.stringify(canceled.error)).toBe(200);
    expect(await stepping).toBe('held');
    expect(await get(member!.id)).toMatchObject({ status: 'running', cancelRequestedAt: expect.any(String) });

    // The member ends as its worker would end it, asked to stop; nothing stays held.
    await withService(app.database.db, 'test', async (tx) => {
      await taskQueries.finishTask(tx, member!.id, 'worker-lock-order', { status: 'canceled' });
      await settleTask(tx, member!.id, 0, 'Task canceled: reservation released');
    });
    for (const taskId of [lead.id, member!.id]) expect((await ledgerOf(taskId)).held).toBe(0);
  });
});

describe('teams under load', () => {
  it('cancels some teams while their members run and finish: every task ends, nothing is held, the ledger adds up', async () => {
    const before = await available();
    const lines: { level: number; msg: string }[] = [];
    const busy = createWorker({
      db: app.database.db,
      providers: { offline: createOfflineProvider() },
      log: pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) }),
      retryBaseMs: 10,
      leaseMs: 5_000,
      pollMs: 50,
      concurrency: 4,
    });
    busy.start();
    try {
      // Members that write to the lead and to each other, read the board, and (some) wait for a client tool.
      const leads = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          create(
            ids.lead!,
            [
              `@TaskCreate Part ${i}: the whole of part ${i}`,
              `@Agent reviewer: @SendMessage team-lead: reviewing ${i}\n@SendMessage implementer: go ahead\n@TaskList`,
              `@Agent implementer: @SendMessage reviewer: starting ${i}\n@TaskUpdate 1 in_progress`,
              i % 4 === 3 ? '@Agent implementer: @Read waits.md' : `@Agent reviewer: @TaskGet 1`,
            ].join('\n'),
          ),
        ),
      );
      // Half of the teams are canceled while their members are queued, running, writing or done: some at once,
      // some a little later, some through one of their members.
      const cancel = (taskId: string) =>
        client().POST('/v1/organizations/{orgId}/tasks/{taskId}/cancel', { params: { path: { orgId, taskId } } });
      await Promise.all(
        leads.map(async (lead, i) => {
          if (i % 2 === 1) return;
          await new Promise((done) => setTimeout(done, 10 * i));
          if (i % 4 === 2) {
            const [member] = await members(lead.id);
            if (member) await cancel(member.id);
          }
          await cancel(lead.id);
        }),
      );
      // The teams left with a member waiting for its client tool: that member's outputs come.
      for (const lead of leads.filter((_, i) => i % 4 === 3)) {
        // (Unless the lead, woken by a message, finished first, which cancels it.)
        while ((await get(lead.id)).finishedAt === null) {
          const waiting = (await members(lead.id)).find((m) => m.status === 'requires_action');
          if (waiting) {
            await submit(waiting.id, [{ toolCallId: waiting.pendingToolCalls![0]!.id, output: 'read' }]);
            break;
          }
          await new Promise((done) => setTimeout(done, 20));
        }
      }
      const everyone = async () => [
        ...(await Promise.all(leads.map((lead) => get(lead.id)))),
        ...(await Promise.all(leads.map((lead) => members(lead.id)))).flat(),
      ];
      const deadline = Date.now() + 20_000;
      let tasks = await everyone();
      while (tasks.some((task) => task.finishedAt === null) && Date.now() < deadline) {
        await new Promise((done) => setTimeout(done, 50));
        tasks = await everyone();
      }
      expect(tasks.filter((task) => task.finishedAt === null)).toEqual([]);
      let total = 0;
      for (const task of tasks) {
        const ledger = await ledgerOf(task.id);
        expect(ledger.held, task.id).toBe(0);
        expect(ledger.charged, task.id).toBe(task.costCredits);
        total += task.costCredits!;
      }
      expect(await available()).toBe(before - total);
      // The teams not canceled succeeded (a lead a message woke may have answered before all its members).
      for (const lead of leads.filter((_, i) => i % 2 === 1)) expect((await get(lead.id)).status).toBe('succeeded');
      // Not one error, and no transaction that had to be tried again: the locks are taken in one order.
      expect(lines.filter((line) => line.level >= 40).map((line) => JSON.stringify(line))).toEqual([]);
    } finally {
      await busy.stop();
    }
  });
});
