// Waiting for a team with the SDK: `waitForTask` with `tree` follows a lead (toolUse team) and the members it
// starts, against the real app with a worker running the offline provider; `listTeam` lists them.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createStaffroomClient,
  isFinalStatus,
  listTeam,
  unwrap,
  waitForTask,
  type Event,
  type StaffroomClientOptions,
  type Task,
} from '../../sdk/index.js';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createWorker, type Worker } from '../../src/services/worker.js';
import { useTestApp } from '../support/app.js';
import { setPlan } from '../support/database.js';
import { signUp, withContractCheck, type TestUser } from '../support/server.js';

const app = useTestApp();
let owner: TestUser;
let orgId: string;
const employees: Record<string, string> = {};
let worker: Worker;

const sdk = (options: Omit<StaffroomClientOptions, 'baseUrl'> = {}) =>
  withContractCheck(createStaffroomClient({ baseUrl: app.server.baseUrl, accessToken: owner.token, ...options }));

async function hire(name: string, slug: string, tools: string[]): Promise<string> {
  const employee = await unwrap(
    sdk().POST('/v1/organizations/{orgId}/employees', {
      params: { path: { orgId } },
      body: { name, slug, instructions: `You are ${name}.`, model: null, maxOutputTokens: 512, tools },
    }),
  );
  return employee.id;
}

beforeAll(async () => {
  owner = await signUp(app.database.db, 'sdk-teams@example.com');
  orgId = (await unwrap(sdk().POST('/v1/organizations', { body: { name: 'Teams' } }))).id;
  await setPlan(app.database.db, orgId, 'pro');
  employees.lead = await hire('Lead', 'lead', ['Agent', 'TeamCreate', 'TaskCreate', 'TaskList', 'SendMessage']);
  employees.reviewer = await hire('Reviewer', 'reviewer', ['Agent', 'Read', 'SendMessage', 'TaskUpdate']);
  employees.implementer = await hire('Implementer', 'implementer', ['Read', 'SendMessage', 'TaskUpdate']);
  employees.solo = await hire('Solo', 'solo', ['Read']);
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

async function createTask(employeeId: string, input: string, toolUse: 'team' | 'client' | 'none' = 'team'): Promise<Task> {
  return unwrap(sdk().POST('/v1/organizations/{orgId}/tasks', { params: { path: { orgId } }, body: { employeeId, input, toolUse } }));
}
async function getTask(taskId: string): Promise<Task> {
  return unwrap(sdk().GET('/v1/organizations/{orgId}/tasks/{taskId}', { params: { path: { orgId, taskId } } }));
}
/** Runs a task's pending calls as a client would: every Read answers with the file's name. */
async function sendOutputs(task: Task): Promise<void> {
  const outputs = task.pendingToolCalls!.map((call) => ({ toolCallId: call.id, output: `contents of ${JSON.stringify(call.input)}` }));
  await unwrap(
    sdk().POST('/v1/organizations/{orgId}/tasks/{taskId}/tool-outputs', {
      params: { path: { orgId, taskId: task.id } },
      body: { outputs },
    }),
  );
}
/** Polls until `test` holds (bounded). */
async function until<T>(read: () => Promise<T>, test: (value: T) => boolean): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await read();
    if (test(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('Timed out waiting for a condition.');
}

const twoMembers = [
  '@TeamCreate review',
  '@TaskCreate Review the change: Read it and report',
  '@Agent reviewer: @TaskUpdate 1 completed',
  '@Agent implementer: @Read src/change.ts',
].join('\n');

describe('waitForTask with tree', () => {
  it('settles on a member waiting for tool outputs, then on the finished team, with the whole tree’s cost', async () => {
    const lead = await createTask(employees.lead!, twoMembers);
    const seen: Event[] = [];
    const waiting = await waitForTask(sdk(), orgId, lead.id, { tree: true, onEvent: (event) => void seen.push(event), timeoutMs: 20_000 });
    // The implementer's Read runs on the client: the tree wait hands over that member, not the waiting lead.
    expect(waiting).toMatchObject({ status: 'requires_action', rootTaskId: lead.id, parentTaskId: lead.id, memberName: 'implementer' });
    expect(waiting.pendingToolCalls).toEqual([{ id: expect.any(String), name: 'Read', input: { file_path: 'src/change.ts' } }]);
    expect((await getTask(lead.id)).status).toBe('waiting_for_team');
    // onEvent sees the lead's own stream (as far as it got: the wait did not end with the lead).
    expect(seen.every((event) => event.taskId === lead.id)).toBe(true);

    await sendOutputs(waiting);
    const done = await waitForTask(sdk(), orgId, lead.id, { tree: true, onEvent: (event) => void seen.push(event), timeoutMs: 20_000 });
    expect(done).toMatchObject({ id: lead.id, status: 'succeeded' });
    const team = await listTeam(sdk(), orgId, lead.id);
    expect(team.map((member) => [member.memberName, member.status]).sort()).toEqual([
      ['implementer', 'succeeded'],
      ['reviewer', 'succeeded'],
    ]);
    expect(done.treeCostCredits).toBe(done.costCredits! + team.reduce((total, member) => total + member.costCredits!, 0));
    for (const member of team) expect(done.output).toContain(member.id);
    // The second wait followed the lead's stream from its start to its final event, members' starts and ends included.
    expect(seen.every((event) => event.taskId === lead.id)).toBe(true);
    expect(seen.at(-1)!.type).toBe('task.succeeded');
    expect(seen.map((event) => event.type)).toContain('task.subtask_started');
    const finished = new Set(seen.filter((event) => event.type === 'task.subtask_finished').map((event) => event.id));
    expect(finished.size).toBe(2);
  });

  it('with untilFinal, waits past members in requires_action until the team is final', async () => {
    const lead = await createTask(employees.lead!, twoMembers);
    // Someone else sends the implementer's outputs once it asks for them.
    const helper = (async () => {
      const team = await until(
        () => listTeam(sdk(), orgId, lead.id),
        (members) => members.some((member) => member.status === 'requires_action'),
      );
      await sendOutputs(team.find((member) => member.status === 'requires_action')!);
    })();
    const done = await waitForTask(sdk(), orgId, lead.id, { tree: true, untilFinal: true, timeoutMs: 20_000 });
    await helper;
    expect(done.status).toBe('succeeded');
    expect((await listTeam(sdk(), orgId, lead.id)).every((member) => isFinalStatus(member.status))).toBe(true);
  });

  it('finds a member of a member waiting for outputs, and waits on a member for the tasks under it only', async () => {
    const lead = await createTask(employees.lead!, '@Agent reviewer: @Agent implementer: @Read deep.ts');
    const waiting = await waitForTask(sdk(), orgId, lead.id, { tree: true, timeoutMs: 20_000 });
    expect(waiting).toMatchObject({ status: 'requires_action', depth: 2, rootTaskId: lead.id, memberName: 'implementer' });
    const reviewer = (await listTeam(sdk(), orgId, lead.id)).find((member) => member.depth === 1)!;
    expect(waiting.parentTaskId).toBe(reviewer.id);
    // Waiting on the reviewer with tree: the same member of its own, not the lead.
    expect(await waitForTask(sdk(), orgId, reviewer.id, { tree: true, timeoutMs: 20_000 })).toMatchObject({ id: waiting.id });

    await sendOutputs(waiting);
    const reviewed = await waitForTask(sdk(), orgId, reviewer.id, { tree: true, timeoutMs: 20_000 });
    expect(reviewed).toMatchObject({ id: reviewer.id, status: 'succeeded' });
    const done = await waitForTask(sdk(), orgId, lead.id, { tree: true, timeoutMs: 20_000 });
    expect(done.status).toBe('succeeded');
    const team = await listTeam(sdk(), orgId, lead.id);
    expect(team.map((member) => member.depth)).toEqual([1, 2]);
    expect(done.treeCostCredits).toBe(done.costCredits! + team.reduce((total, member) => total + member.costCredits!, 0));
  });

  it('waits for members a cancel only asked to stop, and resolves with the canceled lead once all are final', async () => {
    const lead = await createTask(employees.lead!, '@Agent implementer: @Read one.ts\n@Agent reviewer: @Read two.ts');
    await until(
      () => listTeam(sdk(), orgId, lead.id),
      (members) => members.length === 2 && members.every((member) => member.status === 'requires_action'),
    );
    await unwrap(sdk().POST('/v1/organizations/{orgId}/tasks/{taskId}/cancel', { params: { path: { orgId, taskId: lead.id } } }));
    const done = await waitForTask(sdk(), orgId, lead.id, { tree: true, timeoutMs: 20_000 });
    expect(done.status).toBe('canceled');
    expect((await listTeam(sdk(), orgId, lead.id)).map((member) => member.status)).toEqual(['canceled', 'canceled']);
  });

  it('polls the team where the event stream is not available', async () => {
    const client = sdk({
      fetch: async (request) =>
        request.url.endsWith('/events')
          ? new Response(
              JSON.stringify({ success: false, error: { code: 'NOT_FOUND', message: 'No such path.', requestId: 'req_proxy' } }),
              {
                status: 404,
                headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'req_proxy' },
              },
            )
          : fetch(request),
    });
    const lead = await createTask(employees.lead!, '@Agent reviewer: @TaskUpdate 1 completed');
    const seen: Event[] = [];
    const done = await waitForTask(client, orgId, lead.id, { tree: true, onEvent: (event) => void seen.push(event), timeoutMs: 20_000 });
    expect(done.status).toBe('succeeded');
    expect(seen).toEqual([]);
    expect((await listTeam(sdk(), orgId, lead.id)).map((member) => member.status)).toEqual(['succeeded']);
  });
});

describe('waitForTask without tree', () => {
  it('never settles on waiting_for_team', async () => {
    const lead = await createTask(employees.lead!, '@Agent implementer: @Read later.ts');
    const error = await waitForTask(sdk(), orgId, lead.id, { timeoutMs: 1_500 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'StaffroomTimeoutError' });
    expect((await getTask(lead.id)).status).toBe('waiting_for_team');
    const [member] = await listTeam(sdk(), orgId, lead.id);
    expect(member).toMatchObject({ status: 'requires_action' });
    await sendOutputs(member!);
    expect(await waitForTask(sdk(), orgId, lead.id, { timeoutMs: 20_000 })).toMatchObject({ status: 'succeeded' });
  });

  it('treats a task that is not a team’s the same with or without tree', async () => {
    for (const tree of [false, true]) {
      const task = await createTask(employees.solo!, '@Read notes.txt', 'client');
      const waiting = await waitForTask(sdk(), orgId, task.id, { tree, timeoutMs: 20_000 });
      expect(waiting).toMatchObject({ id: task.id, status: 'requires_action', rootTaskId: null });
      await sendOutputs(waiting);
      expect(await waitForTask(sdk(), orgId, task.id, { tree, timeoutMs: 20_000 })).toMatchObject({ id: task.id, status: 'succeeded' });
    }
  });
});

describe('listTeam', () => {
  it('lists every member of a team, oldest first, page after page; nothing for a task without members', async () => {
    const pages: string[] = [];
    const client = sdk({
      fetch: async (request) => {
        const url = new URL(request.url);
        if (url.searchParams.has('rootTaskId')) {
          // Pages of one, to follow the cursor.
          url.searchParams.set('limit', '1');
          pages.push(url.searchParams.get('cursor') ?? 'first');
          return fetch(new Request(url, request));
        }
        return fetch(request);
      },
    });
    const lead = await createTask(
      employees.lead!,
      '@Agent reviewer: @SendMessage implementer: One.\n@Agent implementer: @SendMessage reviewer: Two.',
    );
    await waitForTask(sdk(), orgId, lead.id, { tree: true, untilFinal: true, timeoutMs: 20_000 });
    const team = await listTeam(client, orgId, lead.id);
    expect(team.map((member) => member.memberName).sort()).toEqual(['implementer', 'reviewer']);
    expect(team.every((member) => member.rootTaskId === lead.id)).toBe(true);
    expect(pages.length).toBeGreaterThanOrEqual(2);
    expect(await listTeam(sdk(), orgId, team[0]!.id)).toEqual([]);
  });
});
