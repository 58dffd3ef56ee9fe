// Staffroom's core serving its contract padded to 200 operations, plus one bench-only operation,
// `POST /v1/echo`, that validates a small JSON body and answers it back without touching the database.
// It shows that a request's cost does not grow with the number of operations. Started by `npm run bench`
// like src/server.ts (PORT, HOST, DATABASE_URL, SUPABASE_JWT_SECRET, ...).
import { createServer } from 'node:http';
import { appDepsFromEnv, loadConfig } from '../../src/config.js';
import { connect } from '../../src/db/client.js';
import { handlers } from '../../src/handlers/index.js';
import { createWebServer } from '../../src/http/adapters/express.js';
import { createApp, type AppOptions } from '../../src/http/app.js';
import { contract, operationsOf, type OpenApiDocument } from '../../src/http/contract.js';
import { createLogger, flushLogs } from '../../src/logger.js';

export const paddedOperationCount = 200;

/** The contract, with `/v1/echo` and as many made-up operations (static and templated paths) as it takes. */
function paddedContract(): OpenApiDocument {
  const document = structuredClone(contract);
  const reply = { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } };
  document.paths['/v1/echo'] = {
    post: {
      operationId: 'echoBench',
      security: [],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              additionalProperties: false,
              required: ['name', 'count'],
              properties: {
                name: { type: 'string', minLength: 1, maxLength: 100 },
                count: { type: 'integer', minimum: 0 },
                tags: { type: 'array', maxItems: 10, items: { type: 'string', maxLength: 20 } },
                options: { type: 'object', additionalProperties: false, properties: { dryRun: { type: 'boolean' } } },
              },
            },
          },
        },
      },
      responses: { '200': reply },
    },
  };
  for (let n = 0; operationsOf(document).length < paddedOperationCount; n++) {
    const itemId = { name: 'itemId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
    document.paths[n % 2 ? `/v1/padding-${n}/items` : `/v1/padding-${n}/items/{itemId}`] = {
      get: { operationId: `padding${n}`, security: [], parameters: n % 2 ? [] : [itemId], responses: { '200': reply } },
    };
  }
  return document;
}

const config = loadConfig();
const log = createLogger(config.logLevel, { buffered: true });
process.once('exit', flushLogs);
const db = process.env.DATABASE_URL ? connect(process.env.DATABASE_URL) : undefined;
const document = paddedContract();
const extra: NonNullable<AppOptions['handlers']> = {
  echoBench: async (request: never) => ({ status: 200, body: (request as { body: unknown }).body }),
};
for (const operation of operationsOf(document)) {
  if (operation.operationId.startsWith('padding')) extra[operation.operationId] = async () => ({ status: 200, body: {} });
}
const app = await createApp({
  deps: appDepsFromEnv(process.env, { db }),
  log,
  validateResponses: config.validateResponses,
  maxBodyBytes: config.maxBodyBytes,
  requestTimeoutMs: config.requestTimeoutMs,
  corsOrigins: config.corsOrigins,
  rateLimits: config.rateLimits,
  contract: document,
  handlers: { ...(handlers as unknown as NonNullable<AppOptions['handlers']>), ...extra },
});
createServer(createWebServer(app, { maxBodyBytes: config.maxBodyBytes, docsHtml: async () => undefined })).listen(
  config.port,
  config.host,
  () => {
    log.info({ operations: operationsOf(document).length }, `padded contract listening on http://${config.host}:${config.port}`);
  },
);
process.once('SIGTERM', () => process.exit(0));
process.once('SIGINT', () => process.exit(0));
