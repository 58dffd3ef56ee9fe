import type { Tx } from '../client.js';
import { keyset, type PageRequest } from '../keyset.js';
import type { components } from '../../generated/api.js';

export type TaskRow = components['schemas']['Task'];
export type TaskStatus = components['schemas']['TaskStatus'];

const taskColumns = (tx: Tx) => tx`
  t.id, t.organization_id as "organizationId", t.employee_id as "employeeId", t.status, t.input, t.output,
  case when t.error_code is null then null else json_build_object('code', t.error_code, 'message', t.error_message) end as error,
  t.provider, t.model,
  case when t.input_tokens is null then null
       else json_build_object('inputTokens', t.input_tokens, 'outputTokens', t.output_tokens, 'cachedInputTokens', t.cached_input_tokens) end as usage,
  t.cost_credits as "costCredits",
  case when t.status in ('queued', 'running') then t.reserved_credits else 0 end as "reservedCredits",
  t.attempts, t.max_attempts as "maxAttempts", to_json(t.created_at)#>>'{}' as "createdAt",
  to_json(t.started_at)#>>'{}' as "startedAt", to_json(t.finished_at)#>>'{}' as "finishedAt",
  to_json(t.cancel_requested_at)#>>'{}' as "cancelRequestedAt"`;

/**
 * Creates a queued task and reserves the most it can cost; the database computes that from the employee,
 * the model's price and the input. With an idempotency key, the same key and input return the first task.
 */
export async function createTask(
  tx: Tx,
  task: { orgId: string; employeeId: string; input: string; idempotencyKey: string | null },
): Promise<string> {
  const [row] = await tx<{ id: string }[]>`
    select staffroom.create_task(${task.orgId}, ${task.employeeId}, ${task.input}, ${task.idempotencyKey}) as id`;
  return row!.id;
}

export async function findTask(tx: Tx, orgId: string, id: string): Promise<TaskRow | undefined> {
  const [row] = await tx<TaskRow[]>`select ${taskColumns(tx)} from staffroom.tasks t where t.organization_id = ${orgId} and t.id = ${id}`;
  return row;
}

export async function listTasks(
  tx: Tx,
  orgId: string,
  options: PageRequest & { status?: TaskStatus; employeeId?: string },
): Promise<TaskRow[]> {
  const page = keyset(tx, ['t.created_at', 't.id'], options);
  return tx<TaskRow[]>`
    select ${taskColumns(tx)} from staffroom.tasks t
    where t.organization_id = ${orgId}
      ${options.status ? tx`and t.status = ${options.status}` : tx``}
      ${options.employeeId ? tx`and t.employee_id = ${options.employeeId}` : tx``}
      ${page.after}
    ${page.orderAndLimit}`;
}

/** 'canceled' | 'requested' | 'unchanged'; a finished task is a 409. */
export async function cancelTask(tx: Tx, orgId: string, id: string): Promise<'canceled' | 'requested' | 'unchanged'> {
  const [row] = await tx<{ outcome: 'canceled' | 'requested' | 'unchanged' }[]>`select staffroom.cancel_task(${orgId}, ${id}) as outcome`;
  return row!.outcome;
}

// The worker's side: these run as the service role, and every write is guarded by state and lease owner.

export interface ClaimedTask {
  id: string;
  organizationId: string;
  input: string;
  instructions: string;
  model: string;
  maxOutputTokens: number;
  attempts: number;
  maxAttempts: number;
  reservedCredits: number;
}

/** Claims the next runnable task: queued and due, or running with an expired lease (its worker died). */
/** The channel on which the database announces each task that becomes queued (a trigger on tasks). */
export const taskQueuedChannel = 'staffroom_task_queued';

export async function claimTask(tx: Tx, workerId: string, leaseMs: number): Promise<ClaimedTask | undefined> {
  const [row] = await tx<ClaimedTask[]>`
    update staffroom.tasks t set
      status = 'running', attempts = t.attempts + 1, lease_owner = ${workerId},
      lease_expires_at = now() + make_interval(secs => ${leaseMs / 1000}),
      started_at = coalesce(t.started_at, now()), updated_at = now()
    where t.id = (
      select c.id from staffroom.tasks c
      where (c.status = 'queued' and c.run_after <= now()) or (c.status = 'running' and c.lease_expires_at < now())
      order by c.run_after
      limit 1
      for update skip locked)
    returning t.id, t.organization_id as "organizationId", t.input, t.instructions, t.model,
              t.max_output_tokens as "maxOutputTokens", t.attempts, t.max_attempts as "maxAttempts",
              t.reserved_credits as "reservedCredits"`;
  return row;
}

/** Extends the lease; tells whether cancellation was requested. Undefined: the lease was lost. */
export async function renewLease(tx: Tx, id: string, workerId: string, leaseMs: number): Promise<{ cancelRequested: boolean } | undefined> {
  const [row] = await tx<{ cancelRequested: boolean }[]>`
    update staffroom.tasks set lease_expires_at = now() + make_interval(secs => ${leaseMs / 1000})
    where id = ${id} and status = 'running' and lease_owner = ${workerId}
    returning cancel_requested_at is not null as "cancelRequested"`;
  return row;
}

export type Outcome =
  | {
      status: 'succeeded';
      output: string;
      provider: string;
      usage: { inputTokens: number; outputTokens: number; cachedInputTokens: number };
      costCredits: number;
    }
  | { status: 'failed'; provider: string | null; errorCode: string; errorMessage: string }
  | { status: 'canceled' };

/** Moves a running task this worker holds to its final state; false when the lease was lost meanwhile. */
export async function finishTask(tx: Tx, id: string, workerId: string, outcome: Outcome): Promise<boolean> {
  const succeeded = outcome.status === 'succeeded' ? outcome : undefined;
  const failed = outcome.status === 'failed' ? outcome : undefined;
  const result = await tx`
    update staffroom.tasks set
      status = ${outcome.status}, lease_owner = null, lease_expires_at = null, finished_at = now(), updated_at = now(),
      output = ${succeeded?.output ?? null}, provider = ${succeeded?.provider ?? failed?.provider ?? null},
      input_tokens = ${succeeded?.usage.inputTokens ?? null}, output_tokens = ${succeeded?.usage.outputTokens ?? null},
      cached_input_tokens = ${succeeded?.usage.cachedInputTokens ?? null},
      cost_credits = ${succeeded?.costCredits ?? 0},
      error_code = ${failed?.errorCode ?? null}, error_message = ${failed?.errorMessage ?? null}
    where id = ${id} and status = 'running' and lease_owner = ${workerId}`;
  return result.count === 1;
}

/** Puts a task back in the queue after a transient failure, to run again after `delayMs`. */
export async function retryTask(tx: Tx, id: string, workerId: string, delayMs: number, lastError: string): Promise<boolean> {
  const result = await tx`
    update staffroom.tasks set status = 'queued', lease_owner = null, lease_expires_at = null, updated_at = now(),
      run_after = now() + make_interval(secs => ${delayMs / 1000}), error_message = ${lastError}
    where id = ${id} and status = 'running' and lease_owner = ${workerId}`;
  return result.count === 1;
}

/** Gives a task back untouched (a worker shutting down): it does not count as an attempt. */
export async function releaseTask(tx: Tx, id: string, workerId: string): Promise<boolean> {
  const result = await tx`
    update staffroom.tasks set status = 'queued', lease_owner = null, lease_expires_at = null, updated_at = now(),
      attempts = greatest(attempts - 1, 0), run_after = now()
    where id = ${id} and status = 'running' and lease_owner = ${workerId}`;
  return result.count === 1;
}
