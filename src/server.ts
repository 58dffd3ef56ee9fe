// `npm start`: the local server. Everything it needs has a default; see the README's configuration table.
import { appDepsFromEnv, loadConfig } from './config.js';
import { createLogger, flushLogs } from './logger.js';
import { createApp } from './http/app.js';
import { createWebServer } from './http/adapters/express.js';
import { createHttpServer } from './http/adapters/node.js';
import { readDocs } from './docs.js';
import { openDatabase } from './db/runtime.js';
import { loadLocalSecrets, localDataDir } from './db/local.js';
import { createWorker } from './services/worker.js';
import { createWebhookDispatcher } from './services/webhook-dispatcher.js';
import { createHousekeeping } from './services/housekeeping.js';
import { providersFromEnv } from './integrations/llm/index.js';
import { startupBanner } from './banner.js';
import { createLocalAuth, localSignInApplies, prepareLocalAuth } from './services/local-auth.js';

const config = loadConfig();
const log = createLogger(config.logLevel, { buffered: true });
process.once('exit', flushLogs);

const database = await openDatabase(process.env, log).catch((error: unknown) => {
  // A newcomer's most likely failures (another process owns the data directory, an unreachable folder) say
  // what to do in their message: print it, not a stack.
  log.fatal(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
const worker = createWorker({
  db: database.db,
  providers: providersFromEnv(process.env),
  log: log.child({ component: 'worker' }),
  concurrency: config.workerConcurrency,
  leaseMs: config.taskLeaseMs,
  toolOutputsTimeoutMs: config.toolOutputsTimeoutMs,
});
// Expiry and sweeps keep their own clock: a long queue never holds them up.
const housekeeping = createHousekeeping({ db: database.db, log: log.child({ component: 'housekeeping' }) });
const deps = appDepsFromEnv(process.env, {
  db: database.db,
  localJwtSecret: database.mode === 'embedded' ? loadLocalSecrets(localDataDir()).jwtSecret : undefined,
  onTaskCreated: () => worker.wake(),
  onWebhookQueued: () => dispatcher.wake(),
});
const dispatcher = createWebhookDispatcher({
  db: database.db,
  log: log.child({ component: 'webhooks' }),
  allowPrivate: deps.allowPrivateWebhookUrls ?? false,
});
if (!deps.verifyAccessToken) log.warn('No SUPABASE_JWT_SECRET or SUPABASE_URL: signed-in operations answer 503.');
// Local users sign in with supabase-js against this server, as against a Supabase project (never beside one).
const localAuth =
  localSignInApplies(database.mode, process.env) && deps.verifyAccessToken
    ? await prepareLocalAuth(database.db).then(() =>
        createLocalAuth({
          db: database.db,
          jwtSecret: loadLocalSecrets(localDataDir()).jwtSecret,
          verifyAccessToken: deps.verifyAccessToken!,
        }),
      )
    : undefined;
const app = await createApp({
  deps,
  log,
  validateResponses: config.validateResponses,
  maxBodyBytes: config.maxBodyBytes,
  requestTimeoutMs: config.requestTimeoutMs,
  corsOrigins: config.corsOrigins,
  rateLimits: config.rateLimits,
});
let docs: Promise<string | undefined> | undefined;
const server = createHttpServer(
  createWebServer(app, {
    maxBodyBytes: config.maxBodyBytes,
    bodyIdleTimeoutMs: config.receiveTimeouts.bodyIdleMs,
    docsHtml: () => (docs ??= readDocs()),
    localAuth,
  }),
  config.receiveTimeouts,
).listen(config.port, config.host, () => {
  log.info(`Staffroom listening on http://${config.host}:${config.port} (docs at /docs, contract at /v1/openapi.json)`);
  const databaseInfo = database.mode === 'embedded' ? { mode: database.mode, dataDir: localDataDir() } : { mode: database.mode };
  process.stdout.write(startupBanner({ host: config.host, port: config.port, database: databaseInfo, env: process.env }));
  docs ??= readDocs(); // build the page in the background, so /docs answers at once
  worker.start();
  dispatcher.start();
  housekeeping.start();
});

function shutdown(signal: string): void {
  log.info({ signal }, 'shutting down');
  server.close(() => {
    void Promise.all([worker.stop() /* gives running tasks back to the queue */, dispatcher.stop(), housekeeping.stop()])
      .then(() => database.close())
      .finally(() => process.exit(0));
  });
  // Event streams stay open until their task ends: their clients reconnect (with Last-Event-ID) elsewhere.
  setTimeout(() => server.closeAllConnections(), 2_000).unref();
  setTimeout(() => process.exit(0), 10_000).unref();
}
process.once('SIGINT', () => shutdown('SIGINT'));
process.once('SIGTERM', () => shutdown('SIGTERM'));
