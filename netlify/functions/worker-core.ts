// Shared by the Netlify worker functions (bundled into each; not a function itself).
import { loadConfig } from '../../src/config.js';
import { connect } from '../../src/db/client.js';
import { providersFromEnv } from '../../src/integrations/llm/index.js';
import { createLogger } from '../../src/logger.js';
import { createWorker } from '../../src/services/worker.js';
import { createWebhookDispatcher } from '../../src/services/webhook-dispatcher.js';
import { createHousekeeping } from '../../src/services/housekeeping.js';

/**
 * Drains the task queue, then sends the webhooks that are due. With `housekeeping` (the scheduled sweep) it
 * first expires and sweeps, before the queue, so that a long queue never delays them.
 */
export async function drainQueue(env: NodeJS.ProcessEnv = process.env, options: { housekeeping?: boolean } = {}): Promise<number> {
  if (!env.DATABASE_URL) throw new Error('DATABASE_URL is not set.');
  const { workerConcurrency: concurrency, taskLeaseMs, toolOutputsTimeoutMs } = loadConfig(env);
  // A connection per lane, and one for the lease renewals that overlap them.
  const db = connect(env.DATABASE_URL, { max: concurrency + 1 });
  try {
    if (options.housekeeping) {
      await createHousekeeping({ db, log: createLogger(env.LOG_LEVEL ?? 'info').child({ component: 'housekeeping' }) }).run();
    }
    const worker = createWorker({
      db,
      providers: providersFromEnv(env),
      log: createLogger(env.LOG_LEVEL ?? 'info').child({ component: 'worker' }),
      concurrency,
      leaseMs: taskLeaseMs,
      toolOutputsTimeoutMs,
    });
    const finished = await worker.drain();
    // Then the webhooks the tasks' events queued, and any retry that is due.
    await createWebhookDispatcher({
      db,
      log: createLogger(env.LOG_LEVEL ?? 'info').child({ component: 'webhooks' }),
      allowPrivate: env.WEBHOOKS_ALLOW_PRIVATE_URLS === 'true',
    }).drain();
    return finished;
  } finally {
    await db.end({ timeout: 5 });
  }
}
