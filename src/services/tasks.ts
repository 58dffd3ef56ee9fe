// Tasks: created queued (202) with an upper bound of their cost reserved, run by the worker, canceled at once
// when queued or as soon as the worker sees it when running.
import { createHash } from 'node:crypto';
import type { components } from '../generated/api.js';
import { ApiError } from '../http/errors.js';
import type { RequestContext } from '../http/types.js';
import * as queries from '../db/queries/tasks.js';
import { findEmployee } from '../db/queries/employees.js';
import { findAvailable, reserveTaskCredits } from '../db/queries/credits.js';
import { grantFreeCreditsForThisMonth } from './credits.js';
import { findModel } from './catalog.js';
import { maximumCostInCredits } from './cost.js';
import { asCaller, callerOf } from './context.js';
import { requireOrganization } from './organizations.js';
import { paginate } from './pagination.js';

type Task = components['schemas']['Task'];
type TaskCreate = components['schemas']['TaskCreate'];

export const maxAttempts = 3;
const messageOverheadTokens = 64;

export async function createTask(ctx: RequestContext, orgId: string, input: TaskCreate, idempotencyKey?: string): Promise<Task> {
  const caller = callerOf(ctx);
  const requestHash = idempotencyKey ? createHash('sha256').update(JSON.stringify([input.employeeId, input.input])).digest('hex') : null;
  const task = await asCaller(ctx, async (tx) => {
    const org = await requireOrganization(tx, orgId);
    if (idempotencyKey) {
      const earlier = await queries.findTaskByIdempotencyKey(tx, orgId, idempotencyKey);
      if (earlier) return replay(earlier, requestHash);
    }
    const employee = await findEmployee(tx, orgId, { id: input.employeeId });
    if (!employee) throw new ApiError('NOT_FOUND', 'Employee not found.', [{ field: 'body.employeeId', message: 'no such employee' }]);
    const modelId = employee.model ?? org.defaultModel;
    const model = findModel(modelId);
    if (!model) throw new ApiError('CONFLICT', `The employee's model ${modelId} is no longer offered; choose another.`);
    // Chat formats add a few tokens around each message: a margin keeps the bound an upper bound.
    const promptBytes = Buffer.byteLength(employee.instructions, 'utf8') + Buffer.byteLength(input.input, 'utf8') + messageOverheadTokens;
    const created = await queries.insertTask(tx, {
      orgId,
      employeeId: employee.id,
      createdBy: caller.kind === 'user' ? caller.userId : null,
      createdByKey: caller.kind === 'api_key' ? caller.keyId : null,
      input: input.input,
      instructions: employee.instructions,
      model: modelId,
      maxOutputTokens: Math.min(employee.maxOutputTokens, model.maxOutputTokens),
      reservedCredits: maximumCostInCredits(model.pricing, promptBytes, Math.min(employee.maxOutputTokens, model.maxOutputTokens)),
      maxAttempts,
      idempotencyKey: idempotencyKey ?? null,
      requestHash,
    });
    if (created) {
      if (org.planId === 'free') await grantFreeCreditsForThisMonth(tx, orgId);
      // In a savepoint, so that when the balance is short the transaction can still read it for the 402.
      await tx.savepoint((sp) => reserveTaskCredits(sp, created.id)).catch(async (error: { hint?: string }) => {
        if (error.hint !== 'insufficient_credits') throw error;
        const available = await findAvailable(tx, orgId);
        throw new ApiError('PAYMENT_REQUIRED', `This task needs up to ${created.reservedCredits} credits; ${available} are available.`, [
          { field: 'credits', message: `available ${available}, needed ${created.reservedCredits}` },
        ]);
      });
      return created;
    }
    // A concurrent request with the same key won the insert.
    return replay((await queries.findTaskByIdempotencyKey(tx, orgId, idempotencyKey!))!, requestHash);
  });
  ctx.deps.onTaskCreated?.(task.id);
  return task;
}

function replay(earlier: Task & { requestHash: string | null }, requestHash: string | null): Task {
  if (earlier.requestHash !== requestHash) {
    throw new ApiError('IDEMPOTENCY_CONFLICT', 'This Idempotency-Key was used with a different request body.', [
      { field: 'header.Idempotency-Key', message: 'already used for another request' },
    ]);
  }
  const { requestHash: _hash, ...task } = earlier;
  return task;
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
  query: { limit?: number; cursor?: string; status?: queries.TaskStatus; employeeId?: string },
): Promise<{ items: Task[]; nextCursor: string | null }> {
  return paginate(query, (page) =>
    asCaller(ctx, async (tx) => {
      await requireOrganization(tx, orgId);
      return queries.listTasks(tx, orgId, { ...page, status: query.status, employeeId: query.employeeId });
    }),
  );
}

export async function cancelTask(ctx: RequestContext, orgId: string, taskId: string): Promise<Task> {
  return asCaller(ctx, async (tx) => {
    await requireOrganization(tx, orgId);
    if (!(await queries.findTask(tx, orgId, taskId))) throw new ApiError('NOT_FOUND', 'Task not found.');
    await queries.cancelTask(tx, taskId).catch((error: { hint?: string }) => {
      if (error.hint === 'task_finished') throw new ApiError('CONFLICT', 'The task has finished; it cannot be canceled.');
      if (error.hint === 'task_not_found') throw new ApiError('NOT_FOUND', 'Task not found.');
      throw error;
    });
    return (await queries.findTask(tx, orgId, taskId))!;
  });
}
