import type { Tx } from '../client.js';
import { keyset, type PageRequest } from '../keyset.js';
import type { components } from '../../generated/api.js';

export type TaskRow = components['schemas']['Task'];
export type TaskStatus = components['schemas']['TaskStatus'];
export type TaskMessageRow = components['schemas']['TaskMessage'];
export type ToolUse = components['schemas']['ToolUse'];

const taskColumns = (tx: Tx) => tx`
  t.id, t.organization_id as "organizationId", t.employee_id as "employeeId", t.status, t.input, t.output,
  case when t.error_code is null then null else json_build_object('code', t.error_code, 'message', t.error_message) end as error,
  t.provider, t.model,
  case when t.input_tokens is null then null
       else json_build_object('inputTokens', t.input_tokens, 'outputTokens', t.output_tokens, 'cachedInputTokens', t.cached_input_tokens) end as usage,
  t.cost_credits as "costCredits",
  case when t.status in ('queued', 'running') then t.reserved_credits else 0 end as "reservedCredits",
  t.attempts, t.max_attempts as "maxAttempts", t.tool_use as "toolUse", t.steps, t.max_steps as "maxSteps",
  t.pending_tool_calls as "pendingToolCalls", to_json(t.action_expires_at)#>>'{}' as "actionExpiresAt",
  t.previous_task_id as "previousTaskId", to_json(t.created_at)#>>'{}' as "createdAt",
  to_json(t.started_at)#>>'{}' as "startedAt", to_json(t.finished_at)#>>'{}' as "finishedAt",
  to_json(t.cancel_requested_at)#>>'{}' as "cancelRequestedAt",
  t.parent_task_id as "parentTaskId", t.root_task_id as "rootTaskId", t.depth, t.member_name as "memberName",
  t.parent_tool_call_id as "parentToolCallId", staffroom.task_tree_cost(t.id)::float8 as "treeCostCredits"`;

/**
 * Creates a queued task and reserves the most it can cost; the database computes that from the employee,
 * the model's price and the input. With an idempotency key, the same key and input return the first task.
 */
export async function createTask(
  tx: Tx,
  task: {
    orgId: string;
    employeeId: string;
    input: string;
    idempotencyKey: string | null;
    toolUse: ToolUse;
    maxSteps: number | null;
    previousTaskId: string | null;
  },
): Promise<string> {
  const [row] = await tx<{ id: string }[]>`
    select staffroom.create_task(${task.orgId}, ${task.employeeId}, ${task.input}, ${task.idempotencyKey}, ${task.toolUse},
                                 ${task.maxSteps}::integer, ${task.previousTaskId}::uuid) as id`;
  return row!.id;
}

/** The outputs of a task's pending tool calls; the function checks they answer them one for one. */
export async function submitToolOutputs(
  tx: Tx,
  orgId: string,
  id: string,
  outputs: { toolCallId: string; output: string; isError?: boolean }[],
): Promise<void> {
  await tx`select staffroom.submit_tool_outputs(${orgId}, ${id}, ${tx.json(outputs)})`;
}

const messageColumns = (tx: Tx) => tx`
  m.id, m.task_id as "taskId", m.index, m.role, m.content, m.tool_calls as "toolCalls", m.tool_call_id as "toolCallId",
  m.is_error as "isError", m.step,
  case when m.input_tokens is null then null
       else json_build_object('inputTokens', m.input_tokens, 'outputTokens', m.output_tokens, 'cachedInputTokens', m.cached_input_tokens) end as usage,
  m.cost_credits::float8 as "costCredits", to_json(m.created_at)#>>'{}' as "createdAt"`;

/** A page of a task's transcript in order; the cursor's row is found by id and the page goes on after its index. */
export async function listTaskMessages(tx: Tx, orgId: string, taskId: string, page: PageRequest): Promise<TaskMessageRow[]> {
  return tx<TaskMessageRow[]>`
    select ${messageColumns(tx)} from staffroom.task_messages m
    where m.organization_id = ${orgId} and m.task_id = ${taskId}
      ${page.after ? tx`and m.index > (select c.index from staffroom.task_messages c where c.id = ${page.after.id} and c.task_id = ${taskId})` : tx``}
    order by m.index
    limit ${page.limit + 1}`;
}

export async function findTask(tx: Tx, orgId: string, id: string): Promise<TaskRow | undefined> {
  const [row] = await tx<TaskRow[]>`select ${taskColumns(tx)} from staffroom.tasks t where t.organization_id = ${orgId} and t.id = ${id}`;
  return row;
}

export async function listTasks(
  tx: Tx,
  orgId: string,
  options: PageRequest & { status?: TaskStatus; employeeId?: string; rootTaskId?: string },
): Promise<TaskRow[]> {
  const page = keyset(tx, ['t.created_at', 't.id'], options);
  return tx<TaskRow[]>`
    select ${taskColumns(tx)} from staffroom.tasks t
    where t.organization_id = ${orgId}
      ${options.status ? tx`and t.status = ${options.status}` : tx``}
      ${options.employeeId ? tx`and t.employee_id = ${options.employeeId}` : tx``}
      ${options.rootTaskId ? tx`and t.root_task_id = ${options.rootTaskId}` : tx``}
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
  toolUse: ToolUse;
  /** The employee's tool names when the task was created (none unless toolUse is client). */
  tools: string[];
  steps: number;
  maxSteps: number;
  previousTaskId: string | null;
  /** The task whose `Agent` call started this one, for a team's member. */
  parentTaskId: string | null;
  /** Cancellation was requested while an earlier worker held it. */
  cancelRequested: boolean;
}

/** The channel on which the database announces each task that becomes queued (a trigger on tasks). */
export const taskQueuedChannel = 'staffroom_task_queued';

/**
 * The channel on which the database announces that some running task was asked to stop (a trigger on tasks);
 * the notice names no task, since any session may listen.
 */
export const taskCancelChannel = 'staffroom_task_cancel_requested';

/**
 * Claims the next runnable task: queued and due, running with an expired lease (its worker died), or waiting for
 * its team with a message it has not read (a message wakes it: its step starts afresh, as a queued one does).
 */
export async function claimTask(tx: Tx, workerId: string, leaseMs: number): Promise<ClaimedTask | undefined> {
  const [row] = await tx<ClaimedTask[]>`
    update staffroom.tasks t set
      status = 'running', attempts = case when t.status = 'waiting_for_team' then 1 else t.attempts + 1 end,
      lease_owner = ${workerId}, lease_expires_at = now() + make_interval(secs => ${leaseMs / 1000}),
      started_at = coalesce(t.started_at, now()), updated_at = now()
    where t.id = (
      select c.id from staffroom.tasks c
      where (c.status = 'queued' and c.run_after <= now()) or (c.status = 'running' and c.lease_expires_at < now())
         or (c.status = 'waiting_for_team'
             and c.id in (select m.to_task_id from staffroom.team_messages m where m.delivered_at is null))
      order by c.run_after
      limit 1
      for no key update skip locked)
    returning t.id, t.organization_id as "organizationId", t.input, t.instructions, t.model,
              t.max_output_tokens as "maxOutputTokens", t.attempts, t.max_attempts as "maxAttempts",
              t.reserved_credits as "reservedCredits", t.tool_use as "toolUse", t.tools, t.steps,
              t.max_steps as "maxSteps", t.previous_task_id as "previousTaskId", t.parent_task_id as "parentTaskId",
              t.cancel_requested_at is not null as "cancelRequested"`;
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

/** Which of these tasks this worker holds were asked to stop. */
export async function findCancelRequested(tx: Tx, ids: string[], workerId: string): Promise<string[]> {
  const rows = await tx<{ id: string }[]>`
    select id from staffroom.tasks
    where id = any(${ids}::uuid[]) and lease_owner = ${workerId} and cancel_requested_at is not null`;
  return rows.map((row) => row.id);
}

export type Outcome =
  | { status: 'succeeded'; output: string; provider: string }
  | { status: 'failed'; provider: string | null; errorCode: string; errorMessage: string; output?: string }
  | { status: 'canceled' };

/**
 * Moves a running task this worker holds to its final state, its usage and cost the sums of its steps; false
 * when the lease was lost meanwhile.
 */
export async function finishTask(tx: Tx, id: string, workerId: string, outcome: Outcome): Promise<boolean> {
  const failed = outcome.status === 'failed' ? outcome : undefined;
  const output = outcome.status === 'canceled' ? null : (outcome.output ?? null);
  const provider = outcome.status === 'canceled' ? null : outcome.provider;
  const result = await tx`
    update staffroom.tasks set
      status = ${outcome.status}, lease_owner = null, lease_expires_at = null, finished_at = now(), updated_at = now(),
      output = ${output}, provider = coalesce(${provider}, provider),
      error_code = ${failed?.errorCode ?? null}, error_message = ${failed?.errorMessage ?? null}
    where id = ${id} and status = 'running' and lease_owner = ${workerId}`;
  if (result.count !== 1) return false;
  await tx`select staffroom.total_task_steps(${id})`;
  return true;
}

/** One entry of the conversation a step sends to the model. */
export type ConversationMessage =
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls: { id: string; name: string; input: Record<string, unknown> }[] }
  | { role: 'tool'; toolCallId: string; content: string; isError: boolean };

/** The conversation of a task: its predecessors' transcripts (oldest first), then its own. */
export async function conversation(tx: Tx, id: string): Promise<ConversationMessage[]> {
  const rows = await tx<
    {
      role: 'user' | 'assistant' | 'tool';
      content: string;
      toolCalls: ConversationMessage[];
      toolCallId: string | null;
      isError: boolean;
    }[]
  >`
    with recursive chain (id, depth) as (
      select ${id}::uuid, 0
      union all
      select t.previous_task_id, c.depth + 1 from chain c join staffroom.tasks t on t.id = c.id
      where t.previous_task_id is not null and c.depth < 100)
    select m.role, m.content, m.tool_calls as "toolCalls", m.tool_call_id as "toolCallId", m.is_error as "isError"
    from chain c join staffroom.task_messages m on m.task_id = c.id
    order by c.depth desc, m.index`;
  return rows.map((row) =>
    row.role === 'user'
      ? { role: 'user', content: row.content }
      : row.role === 'assistant'
        ? { role: 'assistant', content: row.content, toolCalls: row.toolCalls as never }
        : { role: 'tool', toolCallId: row.toolCallId!, content: row.content, isError: row.isError },
  );
}

/** Holds at least `bound` credits for the task's next step; throws (hint insufficient_credits) when short. */
export async function holdStep(tx: Tx, id: string, workerId: string, bound: number): Promise<number> {
  const [row] = await tx<{ held: string }[]>`select staffroom.hold_task_step(${id}, ${workerId}, ${bound}) as held`;
  return Number(row!.held);
}

export interface StepRecord {
  content: string;
  toolCalls: { id: string; name: string; input: Record<string, unknown> }[];
  usage: { inputTokens: number; outputTokens: number; cachedInputTokens: number };
  /** The step's exact cost (services/cost.ts): the task is charged its running total rounded up once. */
  costPicodollars: bigint;
  description: string;
  /** Answers to calls that never reach the client (an unknown tool, an input its schema refuses). */
  refused: { toolCallId: string; content: string }[];
}

/**
 * Records a step the model answered: its cost settled (at most what the step held), the assistant's entry and
 * the answers to refused calls in the transcript. Returns whether cancellation was requested meanwhile, and what the step was charged.
 * Throws (hint lease_lost) when this worker no longer holds the task.
 */
export async function recordStep(
  tx: Tx,
  id: string,
  workerId: string,
  step: StepRecord,
): Promise<{ cancelRequested: boolean; charged: number }> {
  const [settled] = await tx<{ charged: string }[]>`
    select staffroom.settle_task_step_exact(${id}, ${workerId}, ${step.costPicodollars.toString()}::bigint, ${step.description}) as charged`;
  const [task] = await tx<{ organizationId: string; steps: number; cancelRequested: boolean }[]>`
    select organization_id as "organizationId", steps, cancel_requested_at is not null as "cancelRequested"
    from staffroom.tasks where id = ${id}`;
  await tx`
    insert into staffroom.task_messages (task_id, organization_id, index, role, content, tool_calls, step,
                                         input_tokens, output_tokens, cached_input_tokens, cost_credits)
    values (${id}, ${task!.organizationId}, (select coalesce(max(index) + 1, 0) from staffroom.task_messages where task_id = ${id}),
            'assistant', ${step.content}, ${tx.json(step.toolCalls as never)}, ${task!.steps}, ${step.usage.inputTokens},
            ${step.usage.outputTokens}, ${step.usage.cachedInputTokens}, ${Number(settled!.charged)})`;
  for (const refused of step.refused) await appendToolResult(tx, id, refused.toolCallId, refused.content, true);
  return { cancelRequested: task!.cancelRequested, charged: Number(settled!.charged) };
}

/** Parks a task this worker holds until the client sends the outputs of `calls`, or `expiresInMs` passes. */
export async function awaitToolOutputs(
  tx: Tx,
  id: string,
  workerId: string,
  calls: { id: string; name: string; input: Record<string, unknown> }[],
  expiresInMs: number,
): Promise<boolean> {
  const result = await tx`
    update staffroom.tasks set status = 'requires_action', lease_owner = null, lease_expires_at = null, updated_at = now(),
      pending_tool_calls = ${tx.json(calls as never)}, action_expires_at = now() + make_interval(secs => ${expiresInMs / 1000})
    where id = ${id} and status = 'running' and lease_owner = ${workerId}`;
  return result.count === 1;
}

/** Queues a task this worker holds for its next step at once (the model's calls were all answered here). */
export async function continueTask(tx: Tx, id: string, workerId: string): Promise<boolean> {
  const result = await tx`
    update staffroom.tasks set status = 'queued', lease_owner = null, lease_expires_at = null, updated_at = now(),
      attempts = 0, run_after = now()
    where id = ${id} and status = 'running' and lease_owner = ${workerId}`;
  return result.count === 1;
}

/** Ends tasks whose tool outputs did not come in time; returns how many. */
export async function expireTasks(tx: Tx): Promise<number> {
  const [row] = await tx<{ expired: number }[]>`select staffroom.expire_tasks() as expired`;
  return row!.expired;
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

// A team's work (toolUse team), done by the worker inside the transactions above: the functions check its lease.

/**
 * Locks the rows the end of a team's task may touch, top down, before its step takes the organization's credits:
 * its parent (which takes its result), the task, and its unfinished members (which its end cancels).
 */
export async function lockTaskRows(tx: Tx, id: string): Promise<void> {
  await tx`select staffroom.lock_task_rows(${id})`;
}

/** Takes the team's lock (after the credits, before the events) for the team tools a step runs. */
export async function lockTeam(tx: Tx, id: string): Promise<void> {
  await tx`select staffroom.lock_team(${id})`;
}

/** Appends the messages teammates sent the task to its transcript, as user turns; how many. */
export async function deliverTeamMessages(tx: Tx, id: string, workerId: string): Promise<number> {
  const [row] = await tx<{ delivered: number }[]>`select staffroom.deliver_team_messages(${id}, ${workerId}) as delivered`;
  return row!.delivered;
}

type Call = { id: string; name: string; input: Record<string, unknown> };

/**
 * Starts the member an `Agent` call asks for; true when the task is to wait for it. When it cannot start (a
 * limit, no such employee, credits short), the reason is recorded as the call's result, for the model to read;
 * a member started in the background (`run_in_background`) answers the call at once, and is not waited for.
 */
export async function startTeamMember(tx: Tx, id: string, workerId: string, call: Call): Promise<boolean> {
  const [row] = await tx<{ started: { taskId?: string; content?: string; background?: boolean } }[]>`
    select staffroom.start_team_member(${id}, ${workerId}, ${call.id}, ${tx.json(call.input as never)}) as started`;
  const { taskId, content, background } = row!.started;
  if (taskId && !background) return true;
  await appendToolResult(tx, id, call.id, content ?? 'Not started.', !taskId);
  return false;
}

/** Answers a call of the task's last step in its transcript, as its tool result. */
async function appendToolResult(tx: Tx, id: string, toolCallId: string, content: string, isError: boolean): Promise<void> {
  await tx`
    insert into staffroom.task_messages (task_id, organization_id, index, role, content, tool_call_id, is_error)
    select t.id, t.organization_id, (select max(m.index) + 1 from staffroom.task_messages m where m.task_id = t.id),
           'tool', ${content}, ${toolCallId}, ${isError}
    from staffroom.tasks t where t.id = ${id}`;
}

/** Runs a board, message or team-naming tool; its result is recorded as the call's answer. */
export async function runTeamTool(tx: Tx, id: string, workerId: string, call: Call): Promise<{ content: string; isError: boolean }> {
  const [row] = await tx<{ result: { content: string; isError: boolean } }[]>`
    select staffroom.run_team_tool(${id}, ${workerId}, ${call.id}, ${call.name}, ${tx.json(call.input as never)}) as result`;
  return row!.result;
}

/** Parks a task this worker holds until the members it started have finished; false when none is left to wait for. */
export async function awaitTeam(tx: Tx, id: string, workerId: string): Promise<boolean> {
  const [row] = await tx<{ parked: boolean }[]>`select staffroom.await_team(${id}, ${workerId}) as parked`;
  if (!row!.parked) return continueTask(tx, id, workerId);
  return true;
}
