import type { components } from '../generated/api.js';
import type { RequestContext } from '../kernel/context.js';

type Health = components['schemas']['Health'];

/** The service is `ok` when every dependency answers; a failing database makes it `degraded`, not down. */
export async function checkHealth(ctx: RequestContext): Promise<Health> {
  const { pingDatabase, version } = ctx.deps;
  let database: Health['database'] = { status: 'not_configured', latencyMs: null };
  if (pingDatabase) {
    const started = performance.now();
    try {
      await pingDatabase();
      database = { status: 'ok', latencyMs: Math.round(performance.now() - started) };
    } catch (error) {
      ctx.log.warn({ err: error }, 'database ping failed');
      database = { status: 'unreachable', latencyMs: null };
    }
  }
  return {
    status: database.status === 'unreachable' ? 'degraded' : 'ok',
    version,
    time: new Date().toISOString(),
    database,
  };
}
