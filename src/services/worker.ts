// The task worker: claims tasks from the Postgres queue and runs one step of each at a time (a model call, made
// outside any transaction with its upper bound of credits held), renews its lease while it waits, and records
// each step with its exact cost, then the task's next state: waiting for the client's tool outputs, queued for
// its next step, or exactly one final state. A cancel request stops the model call within a second, and the step
// is paid for what it consumed. Runs as the service role: it works for every organization and no user is calling.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { withService, type Db } from '../db/client.js';
import { noticesFor, NoticesOff, pollingIntervalsMs } from '../db/notices.js';
import * as queries from '../db/queries/tasks.js';
import {
  ProviderError,
  type ChatMessage,
  type Completion,
  type PartialCompletion,
  type TokenUsage,
  type ToolCall,
  type ToolSpec,
} from '../integrations/llm/provider.js';
import { providerKeyVariable, type Providers } from '../integrations/llm/index.js';
import { findModel, type Model } from './catalog.js';
import { consumedUsage, exactCostInPicodollars, maximumCostInCredits } from './cost.js';
import { findAvailable, settleTask } from '../db/queries/credits.js';
import * as toolQueries from '../db/queries/tools.js';
import * as events from '../db/queries/events.js';
import { findBuiltInTool, isTeamTool } from './tools.js';
import { inputProblem } from './tool-schemas.js';
import { expireDueTasks } from './housekeeping.js';

export interface WorkerOptions {
  db: Db;
  providers: Providers;
  log: Logger;
  /** Tasks run at once by this process. */
  concurrency?: number;
  leaseMs?: number;
  /**
   * How often idle lanes look for due tasks without being told. Lanes started by start() listen for the
   * database's notice of each queued task, so this is only a safety net (expired leases, a notice missed
   * while reconnecting).
   */
  pollMs?: number;
  /** How often idle lanes look for due tasks when they cannot listen (no LISTEN connection); at most pollMs. */
  unheardPollMs?: number;
  /** Base of the exponential backoff between attempts. */
  retryBaseMs?: number;
  /** How long a task waits in requires_action for the client's tool outputs before it ends `expired`. */
  toolOutputsTimeoutMs?: number;
  /**
   * How often a running model call asks whether its task was canceled, while the worker hears no cancel notices
   * (drain(): the Netlify functions, whose pooled connection may not carry LISTEN). Lanes started by start() hear
   * the database's notice at once instead.
   */
  cancelPollMs?: number;
}

export interface Worker {
  readonly id: string;
  /** Claims and runs tasks until there is none due, then expires those past their deadline; how many it finished. */
  drain(): Promise<number>;
  /** Starts `concurrency` lanes that each claim and run tasks, sleeping when none is due (npm start). */
  start(): void;
  /** Wakes the idle lanes at once (a task was just created). */
  wake(): void;
  /** Stops claiming, aborts what runs and gives those tasks back to the queue. */
  stop(): Promise<void>;
}

const reason = 'the task worker runs the tasks of every organization';

export function createWorker(options: WorkerOptions): Worker {
  const id = `worker-${randomUUID().slice(0, 8)}`;
  const { db, providers, log } = options;
  const concurrency = options.concurrency ?? 2;
  const leaseMs = options.leaseMs ?? 60_000;
  const pollMs = options.pollMs ?? 10_000;
  const unheardPollMs = Math.min(pollMs, options.unheardPollMs ?? pollingIntervalsMs.tasks);
  const notices = noticesFor(db);
  // What idle lanes sleep: the safety net while notices come, the polling interval while none can.
  let idleMs = notices.mode === 'poll' ? unheardPollMs : pollMs;
  const retryBaseMs = options.retryBaseMs ?? 1_000;
  const toolOutputsTimeoutMs = options.toolOutputsTimeoutMs ?? 600_000;
  const cancelPollMs = options.cancelPollMs ?? pollingIntervalsMs.cancelRequests;
  const running = new Map<string, AbortController>();
  let stopping = false;
  let loop: Promise<void> | undefined;
  let listening: Promise<{ unlisten(): Promise<void> } | undefined> | undefined;
  let cancelNotices: Promise<{ unlisten(): Promise<void> } | undefined> | undefined;
  let hearsCancels = false;

  async function runOne(): Promise<boolean> {
    const task = await withService(db, reason, (tx) => queries.claimTask(tx, id, leaseMs));
    // Expiry and sweeps run on their own clock (housekeeping.ts), not when the queue is empty.
    if (!task) return false;
    const taskLog = log.child({ taskId: task.id, organizationId: task.organizationId, step: task.steps + 1, attempt: task.attempts });
    if (task.cancelRequested) {
      // Canceled while it waited for a retry or after its worker died: no model call starts.
      await finish(task, { status: 'canceled' });
      taskLog.info({ status: 'canceled' }, 'task finished');
      return true;
    }
    if (task.attempts > task.maxAttempts) {
      // Its earlier workers died holding it as often as it may be tried.
      await finish(task, {
        status: 'failed',
        provider: null,
        errorCode: 'attempts_exhausted',
        errorMessage: `Gave up after ${task.maxAttempts} attempts.`,
      });
      return true;
    }
    const controller = new AbortController();
    running.set(task.id, controller);
    const heartbeat = setInterval(
      () => {
        void withService(db, reason, (tx) => queries.renewLease(tx, task.id, id, leaseMs))
          .then((lease) => {
            if (!lease || lease.cancelRequested) controller.abort(lease ? 'canceled' : 'lease lost');
          })
          .catch((error: unknown) => taskLog.warn({ err: error }, 'lease renewal failed'));
      },
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    try {
      const outcome = await step(task, controller, taskLog);
      if (outcome === 'release') {
        await withService(db, reason, (tx) => queries.releaseTask(tx, task.id, id));
      } else if (outcome === 'recorded') {
        // The step's result is in the database: the task waits for tool outputs, or is queued for its next step.
      } else if (outcome.status === 'retry') {
        const delay = retryBaseMs * 2 ** (task.attempts - 1) * (0.5 + Math.random() / 2);
        await withService(db, reason, (tx) => queries.retryTask(tx, task.id, id, delay, outcome.message));
        taskLog.warn({ delayMs: Math.round(delay), error: outcome.message }, 'task will be retried');
        setTimeout(wake, delay).unref(); // due then; the notice of its requeueing came too early
      } else {
        const recorded = await finish(task, outcome);
        taskLog.info({ status: outcome.status, recorded }, 'task finished');
      }
    } finally {
      clearInterval(heartbeat);
      running.delete(task.id);
    }
    return true;
  }

  /** The final state, and the release of whatever the task still holds, in one transaction; a lost lease changes neither. */
  function finish(task: queries.ClaimedTask, outcome: queries.Outcome): Promise<boolean> {
    return retryingConflicts(log, () =>
      withService(db, reason, async (tx) => {
        // A member's result goes to its parent and a team's task's end cancels its unfinished members: their
        // rows are locked first, top down, as a cancel of the team takes them.
        if (task.toolUse === 'team') await queries.lockTaskRows(tx, task.id);
        if (!(await queries.finishTask(tx, task.id, id, outcome))) return false;
        await settleTask(tx, task.id, 0, `Task ${outcome.status}: reservation released`);
        return true;
      }),
    );
  }

  /**
   * The model's text as it streams, as `task.output_delta` events: gathered for up to 100 ms (or 1 KiB) per
   * event, written one after the other so that they keep their order. A retried step streams again from its
   * start, with its new attempt number.
   */
  function deltaEvents(task: queries.ClaimedTask, taskLog: Logger): { push: (text: string) => void; done: () => Promise<void> } {
    let buffer = '';
    let timer: NodeJS.Timeout | undefined;
    let written = Promise.resolve();
    const flush = () => {
      clearTimeout(timer);
      timer = undefined;
      if (!buffer) return;
      const data = { step: task.steps + 1, attempt: task.attempts, text: buffer };
      buffer = '';
      written = written
        .then(() => withService(db, reason, (tx) => events.emitTaskEvent(tx, task.id, id, 'task.output_delta', data)))
        .catch((error: unknown) => {
          if ((error as { hint?: unknown }).hint !== 'lease_lost') taskLog.warn({ err: error }, 'an output delta was not recorded');
        });
    };
    return {
      push: (text) => {
        buffer += text;
        if (buffer.length >= 1024) flush();
        else timer ??= setTimeout(flush, 100);
      },
      done: () => {
        flush();
        return written;
      },
    };
  }

  /** Aborts the calls of those of `ids` that were asked to stop; false when the database did not answer. */
  function abortCanceled(ids: string[]): Promise<boolean> {
    if (ids.length === 0) return Promise.resolve(true);
    return withService(db, reason, (tx) => queries.findCancelRequested(tx, ids, id)).then(
      (canceled) => {
        for (const taskId of canceled) running.get(taskId)?.abort('canceled');
        return true;
      },
      // The lease renewal reports a database that does not answer, and sees the request itself.
      () => false,
    );
  }

  /**
   * Asks every cancelPollMs whether the task was asked to stop, while its model call runs and the worker hears no
   * cancel notices; returns what stops asking.
   */
  function watchForCancel(task: queries.ClaimedTask, controller: AbortController): () => void {
    if (hearsCancels) return () => undefined;
    let asking = false;
    const timer = setInterval(() => {
      if (asking || controller.signal.aborted) return;
      asking = true;
      void abortCanceled([task.id]).finally(() => (asking = false));
    }, cancelPollMs);
    return () => clearInterval(timer);
  }

  /**
   * The tools the task offers the model: its employee's built-in ones and those its organization defined; the
   * team tools (which the service runs) only to a task run as a team's.
   */
  async function offeredTools(task: queries.ClaimedTask): Promise<ToolSpec[]> {
    if (task.toolUse === 'none' || task.tools.length === 0) return [];
    const own = await withService(db, reason, (tx) => toolQueries.listTools(tx, task.organizationId, task.tools));
    const byName = new Map(own.map((tool) => [tool.name, tool]));
    return task.tools.flatMap((name): ToolSpec[] => {
      if (task.toolUse !== 'team' && isTeamTool(name)) return [];
      const tool = findBuiltInTool(name) ?? byName.get(name);
      // Providers take names of at most 64 characters.
      return tool && name.length <= 64 ? [{ name, description: tool.description, inputSchema: tool.inputSchema }] : [];
    });
  }

  /**
   * One step: the model is called with the conversation so far, after the step's upper bound is held. Its
   * answer ends the task, or its tool calls park the task for the client's outputs; either way the step's exact
   * cost is settled in the same transaction.
   */
  async function step(
    task: queries.ClaimedTask,
    controller: AbortController,
    taskLog: Logger,
  ): Promise<queries.Outcome | { status: 'retry'; message: string } | 'release' | 'recorded'> {
    const { signal } = controller;
    const model = findModel(task.model);
    const provider = model ? providers[model.provider] : undefined;
    if (!model || !provider) {
      const variable = model ? providerKeyVariable[model.provider] : '';
      return {
        status: 'failed',
        provider: model?.provider ?? null,
        errorCode: 'provider_unavailable',
        errorMessage: model
          ? `The ${model.provider} provider is not configured on this deployment (set ${variable}).`
          : `Unknown model ${task.model}.`,
      };
    }
    // Messages from teammates join the conversation as user turns before it is read.
    if (task.toolUse === 'team')
      await retryingConflicts(taskLog, () => withService(db, reason, (tx) => queries.deliverTeamMessages(tx, task.id, id)));
    const [messages, tools] = await Promise.all([
      withService(db, reason, (tx) => queries.conversation(tx, task.id)).then(answerOpenCalls),
      offeredTools(task),
    ]);
    const prompt = promptBytes(task.instructions, messages, tools);
    const bound = maximumCostInCredits(model.pricing, prompt, task.maxOutputTokens);
    try {
      await retryingConflicts(taskLog, () => withService(db, reason, (tx) => queries.holdStep(tx, task.id, id, bound)));
    } catch (error) {
      const hint = (error as { hint?: unknown }).hint;
      if (hint === 'lease_lost') return 'recorded';
      if (hint !== 'insufficient_credits') throw error;
      const available = await withService(db, reason, (tx) => findAvailable(tx, task.organizationId));
      return {
        status: 'failed',
        provider: model.provider,
        errorCode: 'insufficient_credits',
        errorMessage: `Step ${task.steps + 1} needs up to ${bound} credits and ${available} are available; buy credits, then continue the task with previousTaskId.`,
      };
    }
    let completion: Completion;
    const deltas = deltaEvents(task, taskLog);
    const stopWatching = watchForCancel(task, controller);
    try {
      completion = await provider.complete({
        model: task.model,
        system: task.instructions,
        messages,
        tools,
        maxOutputTokens: task.maxOutputTokens,
        signal,
        onDelta: deltas.push,
      });
      await deltas.done();
    } catch (error) {
      await deltas.done();
      const partial = error instanceof ProviderError ? error.partial : undefined;
      if (signal.aborted) {
        if (signal.reason !== 'canceled') return 'release';
        // The provider had the prompt (and sent what streamed): the step is paid for that, the task ends canceled.
        const usage = partial ? consumedUsage(partial, prompt, task.maxOutputTokens) : undefined;
        if (!partial || !usage) return { status: 'canceled' };
        return interrupted(task, model.pricing, partial, usage, 'canceled', { status: 'canceled' }, taskLog);
      }
      if (error instanceof ProviderError && error.timedOut && partial && partial.outputBytes > 0) {
        // Past the call's deadline mid-answer: a retry would stream the answer again, so the task fails, paying
        // for what streamed. A deadline before any output is retried as before.
        const usage = consumedUsage(partial, prompt, task.maxOutputTokens)!;
        const outcome = { status: 'failed' as const, provider: model.provider, errorCode: 'timeout', errorMessage: error.message };
        return interrupted(task, model.pricing, partial, usage, 'past its deadline', outcome, taskLog);
      }
      if (error instanceof ProviderError && error.transient) {
        if (task.attempts < task.maxAttempts) return { status: 'retry', message: error.message };
        return { status: 'failed', provider: model.provider, errorCode: 'attempts_exhausted', errorMessage: error.message };
      }
      if (error instanceof ProviderError)
        return { status: 'failed', provider: model.provider, errorCode: 'provider_error', errorMessage: error.message };
      log.error({ err: error, taskId: task.id }, 'task failed unexpectedly');
      return { status: 'failed', provider: model.provider, errorCode: 'internal', errorMessage: 'The task failed on our side.' };
    } finally {
      stopWatching();
    }

    // The model answered: this step is paid for whatever happens next.
    const calls = task.toolUse === 'none' ? [] : completion.toolCalls;
    const refused: { toolCallId: string; content: string }[] = [];
    // The team tools run here, in the transaction that records the step; the others go to the client.
    const served: ToolCall[] = [];
    const pending: ToolCall[] = [];
    for (const call of calls) {
      const problem = await callProblem(call, tools);
      if (problem) refused.push({ toolCallId: call.id, content: problem });
      else (task.toolUse === 'team' && isTeamTool(call.name) ? served : pending).push({ id: call.id, name: call.name, input: call.input });
    }
    const stepNumber = task.steps + 1;
    const lastStep = stepNumber >= task.maxSteps;
    const record: queries.StepRecord = {
      content: completion.output,
      toolCalls: calls.map((call) => ({ id: call.id, name: call.name, input: call.input })),
      usage: completion.usage,
      costPicodollars: exactCostInPicodollars(model.pricing, completion.usage),
      description: `${task.model}: ${completion.usage.inputTokens} input, ${completion.usage.outputTokens} output, ${completion.usage.cachedInputTokens} cached tokens`,
      refused: lastStep ? [] : refused,
    };
    return commitStep(
      task,
      record,
      pending,
      taskLog,
      (cancelRequested, started) =>
        cancelRequested ? { status: 'canceled' } : nextState(task, completion, calls.length, pending.length, started, lastStep),
      lastStep ? [] : served,
    );
  }

  /**
   * A step that ended early, canceled or past its deadline: recorded with what streamed and paid for what it
   * consumed (at most what it held), and the task ends with `outcome`.
   */
  function interrupted(
    task: queries.ClaimedTask,
    pricing: Model['pricing'],
    partial: PartialCompletion,
    usage: TokenUsage,
    why: string,
    outcome: queries.Outcome,
    taskLog: Logger,
  ): Promise<'recorded'> {
    const record: queries.StepRecord = {
      content: partial.output,
      toolCalls: [],
      usage,
      costPicodollars: exactCostInPicodollars(pricing, usage),
      description: `${task.model}: ${usage.inputTokens} input, ${usage.outputTokens} output, ${usage.cachedInputTokens} cached tokens until ${why}`,
      refused: [],
    };
    taskLog.info({ usage, why }, 'step ended early; paid for what it consumed');
    return commitStep(task, record, [], taskLog, (cancelRequested) => (cancelRequested ? { status: 'canceled' } : outcome), []);
  }

  /**
   * Records a step and the task's next state in one transaction: a crash never leaves one without the other.
   * The team tools the step called (`served`) run in it too: members start, the board and messages change.
   */
  async function commitStep(
    task: queries.ClaimedTask,
    record: queries.StepRecord,
    pending: ToolCall[],
    taskLog: Logger,
    decide: (cancelRequested: boolean, started: number) => queries.Outcome | NextState,
    served: ToolCall[],
  ): Promise<'recorded'> {
    const stepNumber = task.steps + 1;
    let next: queries.Outcome | NextState;
    try {
      next = await retryingConflicts(taskLog, () =>
        withService(db, reason, async (tx) => {
          if (task.toolUse === 'team') await queries.lockTaskRows(tx, task.id);
          const { cancelRequested, charged } = await queries.recordStep(tx, task.id, id, record);
          if (served.length > 0) await queries.lockTeam(tx, task.id);
          await events.emitTaskEvent(tx, task.id, id, 'task.step_completed', {
            step: stepNumber,
            usage: record.usage,
            costCredits: charged,
            toolCalls: record.toolCalls,
          });
          let started = 0;
          if (!cancelRequested) {
            for (const call of served) {
              if (call.name === 'Agent' || call.name === 'Task') {
                if (await queries.startTeamMember(tx, task.id, id, call)) started++;
              } else await queries.runTeamTool(tx, task.id, id, call);
            }
          }
          const outcome = decide(cancelRequested, started);
          if (outcome === 'queued') await queries.continueTask(tx, task.id, id);
          else if (outcome === 'waiting') await queries.awaitToolOutputs(tx, task.id, id, pending, toolOutputsTimeoutMs);
          else if (outcome === 'team') await queries.awaitTeam(tx, task.id, id);
          else {
            await queries.finishTask(tx, task.id, id, outcome);
            await settleTask(tx, task.id, 0, `Task ${outcome.status}: reservation released`);
          }
          return outcome;
        }),
      );
    } catch (error) {
      if ((error as { hint?: unknown }).hint === 'lease_lost') return 'recorded';
      throw error;
    }
    if (next === 'waiting') {
      taskLog.info({ calls: pending.map((call) => call.name) }, 'task waits for tool outputs');
    } else if (next === 'team') {
      taskLog.info({ calls: served.map((call) => call.name) }, 'task waits for its team');
    } else if (next !== 'queued') {
      taskLog.info({ status: next.status, steps: stepNumber }, 'task finished');
    }
    return 'recorded';
  }

  async function drain(): Promise<number> {
    let finished = 0;
    const lanes = Array.from({ length: concurrency }, async () => {
      while (!stopping && (await runOne())) finished++;
    });
    await Promise.all(lanes);
    // A one-off run (the Netlify functions) also ends what waited past its deadline for tool outputs.
    if (!stopping) await expireDueTasks(db);
    return finished;
  }

  // Idle lanes wait here until a task is created (wake) or the poll interval passes.
  const sleepers = new Set<() => void>();
  function sleep(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, idleMs);
      sleepers.add(done);
    });
  }

  /** One of `concurrency` lanes of npm start: claims while there is work, sleeps when there is none. */
  async function lane(): Promise<void> {
    while (!stopping) {
      let ran = false;
      try {
        ran = await runOne();
      } catch (error) {
        log.error({ err: error }, 'worker lane failed; retrying');
      }
      if (!ran && !stopping) await sleep();
    }
  }

  function wake(): void {
    for (const wakeUp of [...sleepers]) wakeUp();
  }

  return {
    id,
    drain,
    start() {
      // postgres.js keeps the listening connection and listens again after a reconnect.
      listening ??= notices.listen(queries.taskQueuedChannel, wake).catch((error: unknown) => {
        // Without a LISTEN connection the start-up log said so; a LISTEN that failed here is said now.
        if (!(error instanceof NoticesOff)) log.warn({ err: error }, `not listening for queued tasks; polling every ${unheardPollMs} ms`);
        idleMs = unheardPollMs;
        wake(); // lanes asleep for the longer interval sleep again for this one
        return undefined;
      });
      // A notice missed while that connection reconnects is heard at the next lease renewal.
      cancelNotices ??= notices
        .listen(queries.taskCancelChannel, () => void abortCanceled([...running.keys()]))
        .then((listener) => {
          hearsCancels = true;
          return listener;
        })
        .catch((error: unknown) => {
          if (!(error instanceof NoticesOff))
            log.warn({ err: error }, `not listening for cancel requests; running calls ask every ${cancelPollMs} ms`);
          return undefined;
        });
      loop ??= Promise.all(Array.from({ length: concurrency }, lane)).then(() => undefined);
    },
    wake,
    async stop() {
      stopping = true;
      for (const controller of running.values()) controller.abort('shutdown');
      wake();
      await loop;
      await (await listening)?.unlisten().catch(() => undefined);
      await (await cancelNotices)?.unlisten().catch(() => undefined);
      hearsCancels = false;
    },
  };
}

/**
 * Runs a transaction again when Postgres ended it for a deadlock or a serialization failure (a cancel cascading
 * down a team while one of its members records its step, say): nothing of it was written, and the step's result
 * is still in hand, so the model is not called again. At most three tries.
 */
async function retryingConflicts<T>(log: Logger, run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (attempt >= 3 || (code !== '40P01' && code !== '40001')) throw error;
      log.warn({ err: error, attempt }, 'transaction ended by a concurrent one; trying it again');
    }
  }
}

/**
 * What a step's prompt can cost, in bytes (no tokenizer makes more tokens than bytes): the instructions, every
 * message and tool call, the tools' schemas, 64 tokens for the chat format (as createTask reserves), 8 per
 * further message, and 1,024 for the way a provider tells the model about tools.
 */
function promptBytes(system: string, messages: ChatMessage[], tools: ToolSpec[]): number {
  let bytes = Buffer.byteLength(system) + 64 + 8 * Math.max(0, messages.length - 1);
  for (const message of messages) {
    bytes += Buffer.byteLength(message.content);
    if (message.role === 'assistant') bytes += Buffer.byteLength(JSON.stringify(message.toolCalls));
    if (message.role === 'tool') bytes += Buffer.byteLength(message.toolCallId);
  }
  if (tools.length > 0) bytes += Buffer.byteLength(JSON.stringify(tools)) + 1024;
  return bytes;
}

/**
 * Calls left without an output (a task that ended while they were pending, continued with previousTaskId) are
 * answered as not run: providers refuse a conversation with a tool call and no result.
 */
function answerOpenCalls(messages: queries.ConversationMessage[]): ChatMessage[] {
  const answered = new Set(messages.flatMap((message) => (message.role === 'tool' ? [message.toolCallId] : [])));
  // Results follow their calls; the open ones are answered right after the results that came.
  const out: ChatMessage[] = [];
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    out.push(message);
    if (message.role !== 'assistant') continue;
    while (messages[i + 1]?.role === 'tool') out.push(messages[++i]!);
    for (const call of message.toolCalls) {
      if (!answered.has(call.id))
        out.push({ role: 'tool', toolCallId: call.id, content: 'Not run: the task ended before this call had an output.', isError: true });
    }
  }
  return out;
}

/** Why a call cannot go to the client (answered to the model instead), or undefined when it can. */
async function callProblem(call: ToolCall, tools: ToolSpec[]): Promise<string | undefined> {
  const tool = tools.find((offered) => offered.name === call.name);
  if (!tool) return `There is no tool named ${call.name}; use one of: ${tools.map((offered) => offered.name).join(', ') || 'none'}.`;
  if (call.inputError) return `The call was not run: ${call.inputError}`;
  const problem = await inputProblem(tool.inputSchema, call.input);
  return problem ? `The call was not run: its input does not match the tool's schema (${problem}).` : undefined;
}

/**
 * Where a task goes after a step that did not end it: waiting for the client's tool outputs, waiting for the
 * members it started (`team`), or queued for its next step at once.
 */
type NextState = 'waiting' | 'team' | 'queued';

/** What follows a step the model answered. */
function nextState(
  task: queries.ClaimedTask,
  completion: Completion,
  calls: number,
  pending: number,
  started: number,
  lastStep: boolean,
): queries.Outcome | NextState {
  if (calls === 0) return { status: 'succeeded', output: completion.output, provider: completion.provider };
  if (lastStep) {
    return {
      status: 'failed',
      provider: completion.provider,
      output: completion.output,
      errorCode: 'max_steps_reached',
      errorMessage: `The model still called tools after ${task.maxSteps} step(s); raise maxSteps, or continue the task with previousTaskId.`,
    };
  }
  // Client calls first: once their outputs come, the task waits for the members still running (if any).
  return pending > 0 ? 'waiting' : started > 0 ? 'team' : 'queued';
}
