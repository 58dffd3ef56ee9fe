// The Netlify function adapter (Functions 2.0: a web Request in, a web Response out) over the same core as
// `npm start`. Bundled by `npm run build:functions` into dist/functions/api.mjs; netlify.toml routes /v1/* here.
import { appDepsFromEnv, listenConnection, loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createApp, type App } from '../../src/http/app.js';
import { handleWebRequest } from '../../src/http/adapters/web.js';
import { connect } from '../../src/db/client.js';
import { openNotices, useNotices } from '../../src/db/notices.js';
import { kickBackgroundWorker } from './kick-worker.js';

const functionPrefix = '/.netlify/functions/api';
let app: Promise<App> | undefined; // kept across invocations of one warm instance

async function startApp(): Promise<App> {
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  // A function instance serves one request at a time: a small pool, through Supabase's pooler.
  const url = process.env.DATABASE_URL;
  const db = url ? connect(url, { max: 2 }) : undefined;
  if (db && url) {
    // Only event streams listen here (the background function drains the queue): on DATABASE_LISTEN_URL when set,
    // else on DATABASE_URL unless it is a transaction pooler; otherwise they poll. Not checked: no cold start waits.
    const connection = listenConnection(process.env, url, { derive: false });
    useNotices(db, await openNotices(db, connection, log.child({ component: 'notices' }), { check: false, features: ['eventStreams'] }));
  }
  return createApp({
    deps: appDepsFromEnv(process.env, {
      db,
      // Netlify sets URL to the site's address; the background function runs the task.
      onTaskCreated: () => kickBackgroundWorker(process.env.URL),
      // So do the webhooks a redelivery queued.
      onWebhookQueued: () => kickBackgroundWorker(process.env.URL),
    }),
    log,
    validateResponses: config.validateResponses,
    maxBodyBytes: config.maxBodyBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    corsOrigins: config.corsOrigins,
    rateLimits: config.rateLimits,
  });
}

export default async function handler(request: Request): Promise<Response> {
  app ??= startApp();
  // A rewrite may hand the function its own path; the API's path follows the prefix.
  return handleWebRequest(await app, request, functionPrefix);
}
