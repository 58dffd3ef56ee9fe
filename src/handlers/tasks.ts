import type { Handler } from '../http/types.js';
import * as tasks from '../services/tasks.js';

export const listTasks: Handler<'listTasks'> = async (req, ctx) => {
  const page = await tasks.listTasks(ctx, req.params.orgId, req.query);
  return { status: 200, body: page.items, page: { nextCursor: page.nextCursor } };
};

export const createTask: Handler<'createTask'> = async (req, ctx) => {
  const task = await tasks.createTask(ctx, req.params.orgId, req.body, req.headers['Idempotency-Key']);
  // A polling hint: most tasks finish within seconds.
  const headers = { Location: `/v1/organizations/${req.params.orgId}/tasks/${task.id}`, 'Retry-After': '1' };
  return { status: 202, body: task, headers };
};

export const getTask: Handler<'getTask'> = async (req, ctx) => ({
  status: 200,
  body: await tasks.getTask(ctx, req.params.orgId, req.params.taskId),
});

export const cancelTask: Handler<'cancelTask'> = async (req, ctx) => ({
  status: 200,
  body: await tasks.cancelTask(ctx, req.params.orgId, req.params.taskId),
});

export const submitToolOutputs: Handler<'submitToolOutputs'> = async (req, ctx) => ({
  status: 200,
  body: await tasks.submitToolOutputs(ctx, req.params.orgId, req.params.taskId, req.body),
});

export const listTaskMessages: Handler<'listTaskMessages'> = async (req, ctx) => {
  const page = await tasks.listTaskMessages(ctx, req.params.orgId, req.params.taskId, req.query);
  return { status: 200, body: page.items, page: { nextCursor: page.nextCursor } };
};

export const listTeamBoard: Handler<'listTeamBoard'> = async (req, ctx) => ({
  status: 200,
  body: await tasks.listTeamBoard(ctx, req.params.orgId, req.params.taskId),
});

export const listTeamMessages: Handler<'listTeamMessages'> = async (req, ctx) => {
  const page = await tasks.listTeamMessages(ctx, req.params.orgId, req.params.taskId, req.query);
  return { status: 200, body: page.items, page: { nextCursor: page.nextCursor } };
};
