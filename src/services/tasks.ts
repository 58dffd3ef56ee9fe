// Tasks: created queued (202) with an upper bound of their cost reserved (computed by the database), run by the
// worker step by step, waiting for the client's tool outputs in between when they use tools; canceled at once
// when queued or waiting, or as soon as the worker sees it when running.
import type { components } from '../generated/api.js';
import { ApiError } from '../kernel/errors.js';
import type { RequestContext } from '../kernel/context.js';
import type { Tx } from '../db/client.js';
import * as queries from '../db/queries/tasks.js';
import * as teams from '../db/queries/teams.js';
import { findEmployee } from '../db/queries/employees.js';
import { providerKeyVariable } from '../integrations/llm/index.js';
import { findModel, isAvailable } from './catalog.js';
import { asCaller } from './context.js';
import { requireOrganization } from './organizations.js';
import { paginate } from './pagination.js';

type Task = components['schemas']['Task'];
type TaskCreate = components['schemas']['TaskCreate'];
type TaskMessage = components['schemas']['TaskMessage'];
type BoardItem = components['schemas']['BoardItem'];
type TeamMessage = components['schemas']['TeamMessage'];
type ToolOutputs = components['schemas']['ToolOutputs'];

export async function createTask(ctx: RequestContext, orgId: string, input: TaskCreate, idempotencyKey?: string): Promise<Task> {
  const task = await asCaller(ctx, async (tx) => {
    const org = await requireOrganization(tx, orgId);
    const { providers } = ctx.deps;
    if (providers) await requireAvailableModel(tx, orgId, input.employeeId, org.defaultModel, providers);
    const id = await queries.createTask(tx, {
      orgId,
      employeeId: input.employeeId,
      input: input.input,
      idempotencyKey: idempotencyKey ?? null,
      toolUse: input.toolUse ?? 'none',
      maxSteps: input.maxSteps ?? null,
      previousTaskId: input.previousTaskId ?? null,
    });
    return (await queries.findTask(tx, orgId, id))!;
  });
  ctx.deps.onTaskCreated?.(task.id);
  return task;
}

/**
 * Refuses a task its employee's model could never run on this deployment, before anything is reserved. An
 * unknown employee or a retired model is left to the database, which answers 404 or MODEL_RETIRED.
 */
async function requireAvailableModel(
  tx: Tx,
  orgId: string,
  employeeId: string,
  defaultModel: string,
  providers: ReadonlySet<string>,
): Promise<void> {
  const employee = await findEmployee(tx, orgId, { id: employeeId });
  if (!employee) return;
  const model = findModel(employee.model ?? defaultModel);
  if (!model || isAvailable(model, providers)) return;
  const inherited = employee.model ? '' : " (the organization's default)";
  throw new ApiError(
    'MODEL_UNAVAILABLE',
    `The employee's model ${model.id}${inherited} runs on ${model.provider}, which this deployment is not configured for: ` +
      `set ${providerKeyVariable[model.provider]}, or give the employee an available model.`,
    [{ field: 'body.employeeId', message: `its model ${model.id} is not available on this deployment` }],
  );
}

export async function getTask(ctx: RequestContext, orgId: string, taskId: string): Promise<Task> {
  return asCaller(ctx, async (tx) => {
    await requireOrganization(tx, orgId);
    const task = await queries.findTask(tx, orgId, taskId);
    if (!task) throw new ApiError('NOT_FOUND', 'Task not found.');
    return task;
  });
}

export async function listTasks(
  ctx: RequestContext,
  orgId: string,
  query: { limit?: number; cursor?: string; status?: queries.TaskStatus; employeeId?: string; rootTaskId?: string },
): Promise<{ items: Task[]; nextCursor: string | null }> {
  return paginate(query, (page) =>
    asCaller(ctx, async (tx) => {
      await requireOrganization(tx, orgId);
      return queries.listTasks(tx, orgId, { ...page, status: query.status, employeeId: query.employeeId, rootTaskId: query.rootTaskId });
    }),
  );
}

export async function cancelTask(ctx: RequestContext, orgId: string, taskId: string): Promise<Task> {
  return asCaller(ctx, async (tx) => {
    await requireOrganization(tx, orgId);
    await queries.cancelTask(tx, orgId, taskId);
    return (await queries.findTask(tx, orgId, taskId))!;
  });
}

/** The outputs of a task's pending tool calls: the task is queued for its next step. */
export async function submitToolOutputs(ctx: RequestContext, orgId: string, taskId: string, body: ToolOutputs): Promise<Task> {
  const task = await asCaller(ctx, async (tx) => {
    await requireOrganization(tx, orgId);
    await queries.submitToolOutputs(tx, orgId, taskId, body.outputs);
    return (await queries.findTask(tx, orgId, taskId))!;
  });
  ctx.deps.onTaskCreated?.(task.id);
  return task;
}

export async function listTaskMessages(
  ctx: RequestContext,
  orgId: string,
  taskId: string,
  query: { limit?: number; cursor?: string },
): Promise<{ items: TaskMessage[]; nextCursor: string | null }> {
  return paginate(query, (page) =>
    asCaller(ctx, async (tx) => {
      await requireOrganization(tx, orgId);
      if (!(await queries.findTask(tx, orgId, taskId))) throw new ApiError('NOT_FOUND', 'Task not found.');
      return queries.listTaskMessages(tx, orgId, taskId, page);
    }),
  );
}

/** The root of the team a task of the organization belongs to (the task itself when it has none); 404 otherwise. */
async function requireTeamRoot(tx: Tx, orgId: string, taskId: string): Promise<string> {
  const task = await queries.findTask(tx, orgId, taskId);
  if (!task) throw new ApiError('NOT_FOUND', 'Task not found.');
  return task.rootTaskId ?? task.id;
}

/** The board of the task's team, in the order of its items' numbers. */
export async function listTeamBoard(ctx: RequestContext, orgId: string, taskId: string): Promise<BoardItem[]> {
  return asCaller(ctx, async (tx) => {
    await requireOrganization(tx, orgId);
    return teams.listTeamBoard(tx, orgId, await requireTeamRoot(tx, orgId, taskId));
  });
}

/** A page of the messages the members of the task's team sent each other, oldest first. */
export async function listTeamMessages(
  ctx: RequestContext,
  orgId: string,
  taskId: string,
  query: { limit?: number; cursor?: string },
): Promise<{ items: TeamMessage[]; nextCursor: string | null }> {
  return paginate(query, (page) =>
    asCaller(ctx, async (tx) => {
      await requireOrganization(tx, orgId);
      return teams.listTeamMessages(tx, orgId, await requireTeamRoot(tx, orgId, taskId), page);
    }),
  );
}
