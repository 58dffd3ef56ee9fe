// What `npm run bench` runs, as plain data: the servers, the rows (a request measured on one of ours and on
// a baseline, with its targets), the function bundles and the cold-start rows. Add a server, a bundle or a row
// here; index.ts does the rest.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildFunctions, bundlePath, bundlePeerFunction } from './cold-start.js';
import type { BenchRequest } from './wrk.js';

export const root = resolve(import.meta.dirname, '../..');

/** What the servers and rows are built from; filled in as the bench sets itself up. */
export interface BenchContext {
  /** The bench cluster, as its superuser (what DATABASE_URL is for a deployment). */
  databaseUrl: string;
  /** The HS256 secret tokens are signed with, and their issuer. */
  jwtSecret: string;
  jwtIssuer: string;
  /** An access token of the bench user. */
  token: string;
  /** The user's organization that the read rows use; it holds `seededApiKeys` API keys. */
  readOrgId: string;
  /** The user's organization that the create row adds API keys to, so that the read rows stay the same. */
  writeOrgId: string;
  /** The secret of one of the read organization's API keys. */
  apiKey: string;
  /** What Staffroom answers to GET /v1/plans, saved for the raw-http baseline. */
  plansFile: string;
  plansContentType: string;
}

export interface ServerDef {
  name: string;
  /** Run as `node --import tsx <script>` from the repository root, with PORT and HOST=127.0.0.1. */
  script: string;
  /** A GET path that answers 2xx once the server is ready. */
  readyPath: string;
  env(ctx: BenchContext): Record<string, string>;
}

export interface RowDef {
  name: string;
  /** The server measured (one of ours) and the one it is compared with. */
  ours: string;
  baseline: string;
  request(ctx: BenchContext): BenchRequest;
  /** Target: ours req/s ÷ baseline req/s at least this. Informational rows (numbers to decide by) have none. */
  minRatio?: number;
  /** Target: ours p99 ÷ baseline p99 at most this (rows with a minRatio). */
  maxP99Ratio?: number;
  /** Both servers must send the same SQL for this request (checked before measuring). */
  sameSql?: boolean;
}

/** A Netlify function bundle: an ES module whose default export takes a web Request and answers a web Response. */
export interface FunctionBundleDef {
  name: string;
  /** What the report says it is. */
  description: string;
  /** Builds it and returns the path of the module to import; `dir` is an empty folder of the bench's own. */
  build(dir: string): Promise<string>;
}

export interface ColdStartDef {
  name: string;
  /** The bundle measured (a name of `functionBundles`). */
  bundle: string;
  request(ctx: BenchContext): BenchRequest;
  /** The environment of the fresh process, on top of one without any Staffroom setting. */
  env(ctx: BenchContext): Record<string, string>;
  /** Target for the median; none when undefined. */
  maxMedianMs?: number;
  /** The same request's cold start on another bundle; target: the median ÷ the peer's median at most `maxRatio`. */
  peer?: { bundle: string; maxRatio: number };
}

/** API keys created in the read organization: more than a page of 20, so the page has a next cursor. */
export const seededApiKeys = 25;
export const coldStartRuns = 7;

/** The env of Staffroom's own server (and of servers built like it). */
const staffroomEnv = (ctx: BenchContext): Record<string, string> => ({
  DATABASE_URL: ctx.databaseUrl,
  SUPABASE_JWT_SECRET: ctx.jwtSecret,
  SUPABASE_JWT_ISSUER: ctx.jwtIssuer,
  NODE_ENV: 'production',
  LOG_LEVEL: 'info',
  // One bench user would spend its budget (600 a minute) in the first second of a row.
  RATE_LIMITS: 'off',
});

const paddedScript = 'scripts/bench/serve-padded.ts';
/** The padded server exists once scripts/bench/serve-padded.ts does; until then its rows are left out. */
export const hasPaddedServer = existsSync(resolve(root, paddedScript));

/** raw-http and express-alone answer GET /v1/plans with what Staffroom answered. */
const plansEnv = (ctx: BenchContext): Record<string, string> => ({
  BENCH_PLANS_FILE: ctx.plansFile,
  BENCH_PLANS_CONTENT_TYPE: ctx.plansContentType,
});

export const servers: ServerDef[] = [
  { name: 'staffroom', script: 'src/server.ts', readyPath: '/v1/health', env: staffroomEnv },
  // The same with rate limits counted (the bench raises the plans' budgets in its database so none refuses).
  {
    name: 'staffroom-limited',
    script: 'src/server.ts',
    readyPath: '/v1/health',
    env: (ctx) => ({ ...staffroomEnv(ctx), RATE_LIMITS: 'on' }),
  },
  { name: 'raw-http', script: 'scripts/bench/raw-http.ts', readyPath: '/v1/plans', env: plansEnv },
  // express 5 as a hello world: one route, its defaults.
  { name: 'express-alone', script: 'scripts/bench/express-alone.ts', readyPath: '/v1/plans', env: plansEnv },
  // The real app with the API mounted in express (npm start dispatches it beside express).
  { name: 'staffroom-mounted', script: 'scripts/bench/serve-mounted.ts', readyPath: '/v1/health', env: staffroomEnv },
  {
    name: 'raw-db',
    script: 'scripts/bench/raw-db.ts',
    readyPath: '/v1/health',
    env: (ctx) => ({ DATABASE_URL: ctx.databaseUrl, SUPABASE_JWT_SECRET: ctx.jwtSecret, SUPABASE_JWT_ISSUER: ctx.jwtIssuer }),
  },
  ...(hasPaddedServer ? [{ name: 'staffroom-padded', script: paddedScript, readyPath: '/v1/plans', env: staffroomEnv }] : []),
];

const bearer = (ctx: BenchContext): Record<string, string> => ({ Authorization: `Bearer ${ctx.token}` });

/** The body of the validated POST: small, a few types. The padded contract's echo operation must accept it. */
export const echoBody = JSON.stringify({ name: 'bench', count: 3, tags: ['a', 'b', 'c'], options: { dryRun: true } });

const getPlans = (): BenchRequest => ({ method: 'GET', path: '/v1/plans' });
const getOrganization = (ctx: BenchContext): BenchRequest => ({
  method: 'GET',
  path: `/v1/organizations/${ctx.readOrgId}`,
  headers: bearer(ctx),
});

export const rows: RowDef[] = [
  {
    name: 'GET /v1/plans',
    ours: 'staffroom',
    baseline: 'raw-http',
    request: getPlans,
    // npm start dispatches API requests beside express, so express costs them nothing: what the ratio prices is
    // the core (route, validate, envelope, ETag, access line), which may cost as much as node:http itself.
    minRatio: 0.5,
    maxP99Ratio: 2,
  },
  {
    // Informational: what express costs before any code of ours runs (published hello worlds: 0.19-0.28×).
    name: 'GET /v1/plans, express 5 alone',
    ours: 'express-alone',
    baseline: 'raw-http',
    request: getPlans,
  },
  {
    // Express's router in front of the API, against express serving the bytes itself: the core's share of it.
    name: 'GET /v1/plans, API mounted in express',
    ours: 'staffroom-mounted',
    baseline: 'express-alone',
    request: getPlans,
    minRatio: 0.9,
    maxP99Ratio: 2,
  },
  ...(hasPaddedServer
    ? [
        {
          name: 'GET /v1/plans, contract padded to 200 operations',
          ours: 'staffroom-padded',
          baseline: 'raw-http',
          request: getPlans,
          // Flat cost: 200 operations route and validate as fast as the contract's own (the target of GET /v1/plans).
          minRatio: 0.5,
          maxP99Ratio: 2,
        } satisfies RowDef,
        {
          name: 'POST /v1/echo (validated small JSON body, no DB)',
          ours: 'staffroom-padded',
          baseline: 'raw-http',
          request: () => ({ method: 'POST', path: '/v1/echo', headers: { 'Content-Type': 'application/json' }, body: echoBody }),
          minRatio: 0.4,
          maxP99Ratio: 2,
        } satisfies RowDef,
      ]
    : []),
  {
    name: 'GET /v1/organizations/{orgId}',
    ours: 'staffroom',
    baseline: 'raw-db',
    request: getOrganization,
    minRatio: 0.85,
    maxP99Ratio: 2,
    sameSql: true,
  },
  {
    // Informational: with the database in the request, the price of express's router in front of the API.
    name: 'GET /v1/organizations/{orgId}, API mounted in express (vs beside)',
    ours: 'staffroom-mounted',
    baseline: 'staffroom',
    request: getOrganization,
    sameSql: true,
  },
  {
    name: 'GET /v1/organizations/{orgId} with an API key, rate limits on (vs off)',
    ours: 'staffroom-limited',
    baseline: 'staffroom',
    request: (ctx) => ({ method: 'GET', path: `/v1/organizations/${ctx.readOrgId}`, headers: { 'X-Api-Key': ctx.apiKey } }),
    // Counting a request is one statement before its transaction: at most a tenth of the request.
    minRatio: 0.9,
    maxP99Ratio: 2,
  },
  {
    name: 'GET /v1/organizations/{orgId}/api-keys?limit=20',
    ours: 'staffroom',
    baseline: 'raw-db',
    request: (ctx) => ({ method: 'GET', path: `/v1/organizations/${ctx.readOrgId}/api-keys?limit=20`, headers: bearer(ctx) }),
    minRatio: 0.85,
    maxP99Ratio: 2,
    sameSql: true,
  },
  {
    name: 'POST /v1/organizations/{orgId}/api-keys',
    ours: 'staffroom',
    baseline: 'raw-db',
    request: (ctx) => ({
      method: 'POST',
      path: `/v1/organizations/${ctx.writeOrgId}/api-keys`,
      headers: { ...bearer(ctx), 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'bench' }),
    }),
    minRatio: 0.85,
    maxP99Ratio: 2,
    sameSql: true,
  },
];

export const functionBundles: FunctionBundleDef[] = [
  {
    name: 'staffroom',
    description: 'dist/functions/api.mjs (npm run build:functions)',
    build: async () => {
      await buildFunctions(root);
      return bundlePath(root);
    },
  },
  {
    // A function on openapi-backend as published, with our contract: what a cold start costs without our work.
    name: 'openapi-backend-stock',
    description: 'scripts/bench/stock-function.ts, bundled the same way into the bench folder',
    build: (dir) => bundlePeerFunction(root, 'scripts/bench/stock-function.ts', dir),
  },
];

export const coldStarts: ColdStartDef[] = [
  {
    name: 'cold start: GET /v1/plans',
    bundle: 'staffroom',
    request: getPlans,
    env: () => ({ NODE_ENV: 'production' }),
    maxMedianMs: 50,
  },
  {
    name: 'cold start: GET /v1/plans, against stock openapi-backend',
    bundle: 'staffroom',
    request: getPlans,
    env: () => ({ NODE_ENV: 'production' }),
    peer: { bundle: 'openapi-backend-stock', maxRatio: 0.5 },
  },
  {
    name: 'cold start: first DB request GET /v1/organizations/{orgId}',
    bundle: 'staffroom',
    request: getOrganization,
    env: (ctx) => ({
      NODE_ENV: 'production',
      DATABASE_URL: ctx.databaseUrl,
      SUPABASE_JWT_SECRET: ctx.jwtSecret,
      SUPABASE_JWT_ISSUER: ctx.jwtIssuer,
    }),
  },
];

/** Settings of the calling shell that would change how Staffroom runs; children start without them. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(SUPABASE_|STRIPE_|OPENAI_|ANTHROPIC_|BENCH_)/.test(name)) delete env[name];
  }
  for (const name of [
    'DATABASE_URL',
    'DATABASE_POOL_SIZE',
    'DATA_DIR',
    'NODE_ENV',
    'LOG_LEVEL',
    'VALIDATE_RESPONSES',
    'PORT',
    'HOST',
    'MAX_BODY_BYTES',
    'REQUEST_TIMEOUT_MS',
    'WORKER_CONCURRENCY',
    'TASK_LEASE_MS',
    'LLM_TIMEOUT_MS',
    'RATE_LIMITS',
    'CORS_ORIGINS',
    'INVITATION_URL',
    'URL',
  ]) {
    delete env[name];
  }
  return env;
}
