// What a team's readers see (listTeamBoard, listTeamMessages, listTasks?rootTaskId=, the team fields of a task),
// over rows written straight into the database as the worker's team tools would leave them: any member of the
// organization or its API key reads them through any task of the team; another organization's task is 404.
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { setPlan } from '../support/database.js';
import { signUp, type TestUser } from '../support/server.js';

const app = useTestApp();
let owner: TestUser;
let member: TestUser;
let stranger: TestUser;
let orgId: string;
let otherOrgId: string;
let otherTaskId: string;
let employeeId: string;
let root: string;
let reviewer: string;
let fixer: string;
let loner: string;

const as = (user: TestUser) => app.server.client({ accessToken: user.token });
const board = (user: TestUser, taskId: string, org = orgId) =>
  as(user).GET('/v1/organizations/{orgId}/tasks/{taskId}/board', { params: { path: { orgId: org, taskId } } });
const messages = (user: TestUser, taskId: string, query: { limit?: number; cursor?: string } = {}, org = orgId) =>
  as(user).GET('/v1/organizations/{orgId}/tasks/{taskId}/team-messages', { params: { path: { orgId: org, taskId }, query } });

async function createTask(user: TestUser, org: string, employee: string, input: string): Promise<string> {
  const created = await as(user).POST('/v1/organizations/{orgId}/tasks', {
    params: { path: { orgId: org } },
    body: { employeeId: employee, input },
  });
  expect(created.response.status).toBe(202);
  return created.data!.data.id;
}

/** Makes a task a member of the root's team, as the worker's Agent call would have started it. */
async function joinTeam(taskId: string, depth: number, parent: string, name: string, callId: string): Promise<void> {
  await app.database.db`
    update staffroom.tasks set tool_use = 'team', parent_task_id = ${parent}, root_task_id = ${root}, depth = ${depth},
      member_name = ${name}, parent_tool_call_id = ${callId}
    where id = ${taskId}`;
}

/** A settled step in a task's transcript, charged `credits`. */
async function chargeStep(taskId: string, credits: number): Promise<void> {
  await app.database.db`
    insert into staffroom.task_messages (task_id, organization_id, index, role, content, tool_calls, step,
                                         input_tokens, output_tokens, cached_input_tokens, cost_credits)
    values (${taskId}, ${orgId}, (select coalesce(max(index) + 1, 0) from staffroom.task_messages where task_id = ${taskId}),
            'assistant', 'Done.', '[]', 1, 10, 10, 0, ${credits})`;
}

beforeAll(async () => {
  owner = await signUp(app.database.db, 'team-reads-owner@example.com');
  member = await signUp(app.database.db, 'team-reads-member@example.com');
  stranger = await signUp(app.database.db, 'team-reads-stranger@example.com');
  orgId = (await as(owner).POST('/v1/organizations', { body: { name: 'Team readers' } })).data!.data.id;
  await setPlan(app.database.db, orgId, 'pro');
  await app.database.db`insert into staffroom.profiles (id, email) values (${member.id}, ${member.email})`;
  await app.database.db`insert into staffroom.memberships (organization_id, user_id, role) values (${orgId}, ${member.id}, 'member')`;
  employeeId = (
    await as(owner).POST('/v1/organizations/{orgId}/employees', {
      params: { path: { orgId } },
      body: { name: 'Lead', instructions: 'Lead the team.' },
    })
  ).data!.data.id;
  root = await createTask(owner, orgId, employeeId, 'Fix the loop, with a reviewer.');
  reviewer = await createTask(owner, orgId, employeeId, 'Review the diff.');
  fixer = await createTask(owner, orgId, employeeId, 'Write the fix.');
  loner = await createTask(owner, orgId, employeeId, 'No team here.');
  await app.database.db`update staffroom.tasks set tool_use = 'team', member_name = 'team-lead' where id = ${root}`;
  await joinTeam(reviewer, 1, root, 'reviewer', 'call_reviewer');
  await joinTeam(fixer, 2, reviewer, 'fixer', 'call_fixer');
  await chargeStep(root, 3);
  await chargeStep(reviewer, 5);
  await chargeStep(fixer, 7);
  await chargeStep(loner, 11);

  await app.database.db`
    insert into staffroom.team_board_items (organization_id, root_task_id, number, subject, description, active_form, status, owner,
                                            blocked_by, metadata, created_by_task_id)
    values (${orgId}, ${root}, 2, 'Write the fix', 'Fix what the review found.', null, 'pending', null, '{1}', '{}', ${reviewer}),
           (${orgId}, ${root}, 1, 'Review the diff', 'List the bugs.', 'Reviewing the diff', 'completed', 'reviewer', '{}', '{"priority": "high"}', ${root}),
           (${orgId}, ${root}, 3, 'Ship it', 'Merge once fixed and reviewed.', null, 'pending', null, '{1,2}', '{}', ${root})`;
  const at = (seconds: number) => new Date(Date.UTC(2026, 10, 25, 9, 30, seconds)).toISOString();
  for (const [seconds, from, fromName, to, toName, content] of [
    [1, root, 'team-lead', reviewer, 'reviewer', 'Start with the loop on line 12.'],
    [2, reviewer, 'reviewer', fixer, 'fixer', 'The loop never ends on an empty list.'],
    [3, fixer, 'fixer', root, 'team-lead', 'Fixed, with a test.'],
  ] as const) {
    await app.database.db`
      insert into staffroom.team_messages (organization_id, root_task_id, from_task_id, from_name, to_task_id, to_name, content,
                                           summary, created_at, delivered_at)
      values (${orgId}, ${root}, ${from}, ${fromName}, ${to}, ${toName}, ${content}, ${seconds === 1 ? 'Start with the loop' : null},
              ${at(seconds)}, ${seconds === 3 ? null : at(seconds + 1)})`;
  }

  otherOrgId = (await as(stranger).POST('/v1/organizations', { body: { name: 'Elsewhere' } })).data!.data.id;
  const otherEmployee = (
    await as(stranger).POST('/v1/organizations/{orgId}/employees', {
      params: { path: { orgId: otherOrgId } },
      body: { name: 'Other', instructions: 'Work.' },
    })
  ).data!.data.id;
  otherTaskId = await createTask(stranger, otherOrgId, otherEmployee, 'Someone else’s work.');
});

describe('a task of a team', () => {
  it('says where it stands in its team, and what it and the tasks under it were charged', async () => {
    const read = (taskId: string) => as(member).GET('/v1/organizations/{orgId}/tasks/{taskId}', { params: { path: { orgId, taskId } } });
    expect((await read(root)).data!.data).toMatchObject({
      toolUse: 'team',
      parentTaskId: null,
      rootTaskId: null,
      depth: 0,
      memberName: 'team-lead',
      parentToolCallId: null,
      treeCostCredits: 15,
    });
    expect((await read(reviewer)).data!.data).toMatchObject({
      parentTaskId: root,
      rootTaskId: root,
      depth: 1,
      memberName: 'reviewer',
      parentToolCallId: 'call_reviewer',
      treeCostCredits: 12,
    });
    expect((await read(fixer)).data!.data).toMatchObject({ parentTaskId: reviewer, rootTaskId: root, depth: 2, treeCostCredits: 7 });
    expect((await read(loner)).data!.data).toMatchObject({
      toolUse: 'none',
      parentTaskId: null,
      rootTaskId: null,
      depth: 0,
      memberName: null,
      parentToolCallId: null,
      treeCostCredits: 11,
    });
  });
});

describe('listTeamBoard', () => {
  it("lists the team's items in the order of their numbers, with what blocks what, through any task of the team", async () => {
    const expected = [
      {
        id: '1',
        subject: 'Review the diff',
        activeForm: 'Reviewing the diff',
        status: 'completed',
        owner: 'reviewer',
        blockedBy: [],
        blocks: ['2', '3'],
        metadata: { priority: 'high' },
        createdByTaskId: root,
      },
      { id: '2', subject: 'Write the fix', activeForm: null, owner: null, blockedBy: ['1'], blocks: ['3'], createdByTaskId: reviewer },
      { id: '3', subject: 'Ship it', blockedBy: ['1', '2'], blocks: [], metadata: {} },
    ];
    for (const taskId of [root, reviewer, fixer]) {
      const answer = await board(member, taskId);
      expect(answer.response.status).toBe(200);
      expect(answer.data!.data).toMatchObject(expected);
      expect(answer.response.headers.get('etag')).toBeTruthy();
    }
    expect((await board(owner, root)).data!.data).toHaveLength(3);
  });

  it('answers an API key of the organization, and is empty for a task without a team', async () => {
    const key = (
      await as(owner).POST('/v1/organizations/{orgId}/api-keys', { params: { path: { orgId } }, body: { name: 'Board reader' } })
    ).data!.data;
    const viaKey = app.server.client({ apiKey: key.secret });
    const read = await viaKey.GET('/v1/organizations/{orgId}/tasks/{taskId}/board', { params: { path: { orgId, taskId: fixer } } });
    expect(read.data!.data.map((item) => item.id)).toEqual(['1', '2', '3']);
    expect((await board(member, loner)).data!.data).toEqual([]);
  });

  it("is 404 NOT_FOUND for another organization's task, an unknown one, and to someone outside the organization", async () => {
    const missing = [
      await board(owner, otherTaskId),
      await board(owner, '00000000-0000-4000-8000-000000000000'),
      await board(stranger, root),
    ];
    for (const answer of missing) {
      expect(answer.response.status).toBe(404);
      expect(answer.error!.error.code).toBe('NOT_FOUND');
    }
    // The stranger's own task, named under this organization, is not found either.
    expect((await board(stranger, otherTaskId)).response.status).toBe(404);
    expect((await board(stranger, otherTaskId, otherOrgId)).data!.data).toEqual([]);
  });
});

describe('listTeamMessages', () => {
  it("pages the team's messages oldest first, through any task of the team", async () => {
    const first = await messages(member, fixer, { limit: 2 });
    expect(first.response.status).toBe(200);
    expect(first.data!.data).toMatchObject([
      {
        rootTaskId: root,
        fromTaskId: root,
        fromName: 'team-lead',
        toTaskId: reviewer,
        toName: 'reviewer',
        content: 'Start with the loop on line 12.',
        summary: 'Start with the loop',
        createdAt: '2026-11-25T09:30:01+00:00',
        deliveredAt: '2026-11-25T09:30:02+00:00',
      },
      { fromName: 'reviewer', toName: 'fixer', summary: null },
    ]);
    const cursor = first.data!.page.nextCursor;
    expect(cursor).toBeTruthy();
    const second = await messages(member, root, { limit: 2, cursor: cursor! });
    expect(second.data!.data).toMatchObject([
      { fromName: 'fixer', toName: 'team-lead', content: 'Fixed, with a test.', deliveredAt: null },
    ]);
    expect(second.data!.page.nextCursor).toBeNull();
    expect((await messages(owner, reviewer)).data!.data.map((message) => message.fromName)).toEqual(['team-lead', 'reviewer', 'fixer']);
    expect((await messages(member, loner)).data!.data).toEqual([]);
  });

  it("is 404 NOT_FOUND for another organization's task, and to someone outside the organization", async () => {
    for (const answer of [await messages(owner, otherTaskId), await messages(stranger, root)]) {
      expect(answer.response.status).toBe(404);
      expect(answer.error!.error.code).toBe('NOT_FOUND');
    }
  });

  it('refuses a cursor it did not return', async () => {
    const answer = await messages(member, root, { cursor: 'not-a-cursor' });
    expect(answer.response.status).toBe(400);
    expect(answer.error!.error.details).toEqual([{ field: 'query.cursor', message: 'is not a cursor this API returned' }]);
  });
});

describe('listTasks?rootTaskId=', () => {
  it("lists the team's members, newest first, not the root nor other tasks", async () => {
    const list = await as(member).GET('/v1/organizations/{orgId}/tasks', { params: { path: { orgId }, query: { rootTaskId: root } } });
    expect(list.response.status).toBe(200);
    expect(list.data!.data.map((task) => task.id)).toEqual([fixer, reviewer]);
    const none = await as(member).GET('/v1/organizations/{orgId}/tasks', { params: { path: { orgId }, query: { rootTaskId: loner } } });
    expect(none.data!.data).toEqual([]);
    const elsewhere = await as(owner).GET('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId }, query: { rootTaskId: otherTaskId } },
    });
    expect(elsewhere.data!.data).toEqual([]);
  });

  it('refuses a rootTaskId that is not a uuid, naming it', async () => {
    const answer = await as(member).GET('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId }, query: { rootTaskId: 'team-1' } },
    });
    expect(answer.response.status).toBe(400);
    expect(answer.error!.error.details?.[0]?.field).toBe('query.rootTaskId');
  });
});
