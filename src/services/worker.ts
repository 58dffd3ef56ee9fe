// The task worker: claims tasks from the Postgres queue, runs them on their provider outside any
// transaction, renews its lease while it waits, and records exactly one final state. Runs as the service
// role: it works for every organization and no user is calling.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { withService, type Db } from '../db/client.js';
import * as queries from '../db/queries/tasks.js';
import { ProviderError } from '../integrations/llm/provider.js';
import { providerKeyVariable, type Providers } from '../integrations/llm/index.js';
import { findModel } from './catalog.js';
import { costInCredits } from './cost.js';
import { settleTask } from '../db/queries/credits.js';

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
  /** Base of the exponential backoff between attempts. */
  retryBaseMs?: number;
}

export interface Worker {
  readonly id: string;
  /** Claims and runs tasks until there is none due; resolves with how many it finished. */
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
  const retryBaseMs = options.retryBaseMs ?? 1_000;
  const running = new Map<string, AbortController>();
  let stopping = false;
  let loop: Promise<void> | undefined;
  let listening: Promise<{ unlisten(): Promise<void> } | undefined> | undefined;

  async function runOne(): Promise<boolean> {
    const task = await withService(db, reason, (tx) => queries.claimTask(tx, id, leaseMs));
    if (!task) return false;
    const taskLog = log.child({ taskId: task.id, organizationId: task.organizationId, attempt: task.attempts });
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
      const outcome = await execute(task, controller.signal);
      if (outcome === 'release') {
        await withService(db, reason, (tx) => queries.releaseTask(tx, task.id, id));
      } else if (outcome.status === 'retry') {
        const delay = retryBaseMs * 2 ** (task.attempts - 1) * (0.5 + Math.random() / 2);
        await withService(db, reason, (tx) => queries.retryTask(tx, task.id, id, delay, outcome.message));
        taskLog.warn({ delayMs: Math.round(delay), error: outcome.message }, 'task will be retried');
        setTimeout(wake, delay).unref(); // due then; the notice of its requeueing came too early
      } else {
        const recorded = await finish(task, outcome);
        taskLog.info(
          { status: outcome.status, recorded, costCredits: outcome.status === 'succeeded' ? outcome.costCredits : 0 },
          'task finished',
        );
      }
    } finally {
      clearInterval(heartbeat);
      running.delete(task.id);
    }
    return true;
  }

  /** The final state and the credits settle in one transaction; a lost lease changes neither. */
  function finish(task: queries.ClaimedTask, outcome: queries.Outcome): Promise<boolean> {
    return withService(db, reason, async (tx) => {
      if (!(await queries.finishTask(tx, task.id, id, outcome))) return false;
      const cost = outcome.status === 'succeeded' ? outcome.costCredits : 0;
      const description =
        outcome.status === 'succeeded'
          ? `${task.model}: ${outcome.usage.inputTokens} input, ${outcome.usage.outputTokens} output, ${outcome.usage.cachedInputTokens} cached tokens`
          : `Task ${outcome.status}`;
      await settleTask(tx, task.id, cost, description);
      return true;
    });
  }

  async function execute(
    task: queries.ClaimedTask,
    signal: AbortSignal,
  ): Promise<queries.Outcome | { status: 'retry'; message: string } | 'release'> {
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
    try {
      const completion = await provider.complete({
        model: task.model,
        system: task.instructions,
        input: task.input,
        maxOutputTokens: task.maxOutputTokens,
        signal,
      });
      return {
        status: 'succeeded',
        output: completion.output,
        provider: completion.provider,
        usage: completion.usage,
        // The reservation is the most a task may cost: a customer never pays more than it held.
        costCredits: Math.min(costInCredits(model.pricing, completion.usage), task.reservedCredits),
      };
    } catch (error) {
      if (signal.aborted) return signal.reason === 'canceled' ? { status: 'canceled' } : 'release';
      if (error instanceof ProviderError && error.transient) {
        if (task.attempts < task.maxAttempts) return { status: 'retry', message: error.message };
        return { status: 'failed', provider: model.provider, errorCode: 'attempts_exhausted', errorMessage: error.message };
      }
      if (error instanceof ProviderError)
        return { status: 'failed', provider: model.provider, errorCode: 'provider_error', errorMessage: error.message };
      log.error({ err: error, taskId: task.id }, 'task failed unexpectedly');
      return { status: 'failed', provider: model.provider, errorCode: 'internal', errorMessage: 'The task failed on our side.' };
    }
  }

  async function drain(): Promise<number> {
    let finished = 0;
    const lanes = Array.from({ length: concurrency }, async () => {
      while (!stopping && (await runOne())) finished++;
    });
    await Promise.all(lanes);
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
      const timer = setTimeout(done, pollMs);
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
      listening ??= db.listen(queries.taskQueuedChannel, wake).catch((error: unknown) => {
        log.warn({ err: error }, `not listening for queued tasks; polling every ${pollMs} ms`);
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
    },
  };
}
