// Staffroom's app (the bundled contract and handlers, as `npm start` builds it) with the API mounted in express
// (`createWebServer(app, { api: 'mounted' })`): express's router sees every request first and hands the API's
// to the core as a middleware. `npm start` dispatches them beside express instead; the bench measures both.
// Env as src/server.ts with DATABASE_URL (PORT, HOST, SUPABASE_JWT_SECRET, ...). Unlike `npm start` it runs no
// task worker or webhook dispatcher (idle, they wait on a LISTEN and look every 5-10 s) and serves no docs page.
import { createServer } from 'node:http';
import { appDepsFromEnv, loadConfig } from '../../src/config.js';
import { connect } from '../../src/db/client.js';
import { createWebServer } from '../../src/http/adapters/express.js';
import { createApp } from '../../src/http/app.js';
import { createLogger, flushLogs } from '../../src/logger.js';

const config = loadConfig();
const log = createLogger(config.logLevel, { buffered: true });
process.once('exit', flushLogs);
// The pool of `npm start` with DATABASE_URL: 10 connections.
const db = process.env.DATABASE_URL ? connect(process.env.DATABASE_URL, { max: 10 }) : undefined;
const app = await createApp({
  deps: appDepsFromEnv(process.env, { db }),
  log,
  validateResponses: config.validateResponses,
  maxBodyBytes: config.maxBodyBytes,
  requestTimeoutMs: config.requestTimeoutMs,
  corsOrigins: config.corsOrigins,
  rateLimits: config.rateLimits,
});
const webServer = createWebServer(app, { maxBodyBytes: config.maxBodyBytes, docsHtml: async () => undefined, api: 'mounted' });
createServer(webServer).listen(config.port, config.host, () => {
  log.info(`Staffroom (API mounted in express) listening on http://${config.host}:${config.port}`);
});
process.once('SIGTERM', () => process.exit(0));
process.once('SIGINT', () => process.exit(0));
