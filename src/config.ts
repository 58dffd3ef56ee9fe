import { providersFromEnv } from './integrations/llm/index.js';
import { createSupabaseMailer } from './integrations/supabase.js';
import { createStripeClient, stripeConfigFromEnv } from './integrations/stripe.js';
import type { AppDeps } from './kernel/context.js';
import { ping, type Db } from './db/client.js';
import contract from './generated/openapi.json' with { type: 'json' };
import { authConfigFromEnv, createTokenVerifier } from './services/identity.js';
import { isDatabaseUrl, isTransactionPooler, supabaseSessionUrl } from './db/urls.js';
// Configuration comes from environment variables only; every one is optional locally.
export interface Config {
  env: 'development' | 'test' | 'production';
  host: string;
  port: number;
  logLevel: string;
  validateResponses: boolean;
  maxBodyBytes: number;
  /** Tasks one process runs at once. */
  workerConcurrency: number;
  /** A request's deadline: past it, 503 and nothing kept. */
  requestTimeoutMs: number;
  /** How long a request may take to arrive (0: no limit): its headers, the whole of it, the longest pause in its body; past one, 408. */
  receiveTimeouts: { headersMs: number; requestMs: number; bodyIdleMs: number };
  /** How long a worker holds a task without renewing: a task whose worker died runs again after this. */
  taskLeaseMs: number;
  /** How long a task waits for the client's tool outputs before it ends `expired`. */
  toolOutputsTimeoutMs: number;
  /** Browser origins allowed to call the API; `*` for any. */
  corsOrigins: '*' | string[];
  /** Count requests against the budgets of users, organizations and client addresses (RATE_LIMITS=off: not). */
  rateLimits: boolean;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const mode = env.NODE_ENV === 'production' ? 'production' : env.NODE_ENV === 'test' ? 'test' : 'development';
  return {
    env: mode,
    host: env.HOST ?? '127.0.0.1',
    port: integer(env.PORT, 3000, 'PORT'),
    logLevel: env.LOG_LEVEL ?? (mode === 'test' ? 'silent' : 'info'),
    validateResponses: env.VALIDATE_RESPONSES ? env.VALIDATE_RESPONSES === 'true' : mode !== 'production',
    maxBodyBytes: integer(env.MAX_BODY_BYTES, 1_048_576, 'MAX_BODY_BYTES'),
    workerConcurrency: integer(env.WORKER_CONCURRENCY, 2, 'WORKER_CONCURRENCY'),
    requestTimeoutMs: integer(env.REQUEST_TIMEOUT_MS, 10_000, 'REQUEST_TIMEOUT_MS'),
    receiveTimeouts: receiveTimeouts(env),
    taskLeaseMs: integer(env.TASK_LEASE_MS, 60_000, 'TASK_LEASE_MS'),
    toolOutputsTimeoutMs: integer(env.TOOL_OUTPUTS_TIMEOUT_MS, 600_000, 'TOOL_OUTPUTS_TIMEOUT_MS'),
    corsOrigins: origins(env.CORS_ORIGINS),
    rateLimits: env.RATE_LIMITS !== 'off',
  };
}

/** `*` (or nothing) for any origin, else a comma-separated list of origins such as `https://app.example.com`. */
function origins(value: string | undefined): '*' | string[] {
  const listed = (value ?? '')
    .split(',')
    .map((origin) => origin.trim().replace(/\/+$/, ''))
    .filter(Boolean);
  if (listed.length === 0 || listed.includes('*')) return '*';
  for (const origin of listed) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin))
      throw new Error(`CORS_ORIGINS must list origins such as https://app.example.com, got "${origin}".`);
  }
  return listed;
}

/**
 * Headers in 10 s: they fit in one packet, so even a poor mobile link sends them in well under a second. The whole
 * request in 30 s: the largest body (MAX_BODY_BYTES, 1 MiB) at 35 KB/s. No pause of 5 s inside a body: a client
 * that is sending never stops that long, while TCP recovers a lost packet within 1-3 s.
 */
function receiveTimeouts(env: NodeJS.ProcessEnv): Config['receiveTimeouts'] {
  const headersMs = integer(env.HTTP_HEADERS_TIMEOUT_MS, 10_000, 'HTTP_HEADERS_TIMEOUT_MS');
  const requestMs = integer(env.HTTP_RECEIVE_TIMEOUT_MS, 30_000, 'HTTP_RECEIVE_TIMEOUT_MS');
  const bodyIdleMs = integer(env.HTTP_BODY_IDLE_TIMEOUT_MS, 5_000, 'HTTP_BODY_IDLE_TIMEOUT_MS');
  // node:http refuses a headers limit longer than the whole request's.
  if (headersMs > 0 && requestMs > 0 && headersMs > requestMs)
    throw new Error(`HTTP_HEADERS_TIMEOUT_MS (${headersMs}) must not be longer than HTTP_RECEIVE_TIMEOUT_MS (${requestMs}).`);
  return { headersMs, requestMs, bodyIdleMs };
}

function integer(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`${name} must be a non-negative integer, got "${value}".`);
  return parsed;
}

/**
 * The connection the service LISTENs on for queued tasks, cancel requests and new events. Queries go through
 * DATABASE_URL (Supabase: the transaction pooler, port 6543), where LISTEN hears nothing, so notices need a
 * session-mode or direct connection: DATABASE_LISTEN_URL; else, for Supabase's pooler, its session mode (the same
 * URL on port 5432); else DATABASE_URL itself, unless it is a transaction pooler (port 6543). `off`: no LISTEN
 * anywhere, every feature polls.
 */
export type ListenConnection =
  { kind: 'listen'; url: string; source: 'DATABASE_LISTEN_URL' | 'session pooler' | 'DATABASE_URL' } | { kind: 'off'; reason: string };

/**
 * `databaseUrl`: where queries go (DATABASE_URL, or the embedded cluster's URL when it is unset). `derive: false`
 * takes no session-mode connection unless DATABASE_LISTEN_URL names one (the Netlify function: many short-lived
 * instances, each of which would hold one of the session pooler's few connections).
 */
export function listenConnection(env: NodeJS.ProcessEnv, databaseUrl: string, options: { derive?: boolean } = {}): ListenConnection {
  const listenUrl = env.DATABASE_LISTEN_URL?.trim();
  if (listenUrl === 'off') return { kind: 'off', reason: 'DATABASE_LISTEN_URL=off' };
  if (listenUrl) {
    if (!isDatabaseUrl(listenUrl))
      throw new Error('DATABASE_LISTEN_URL must be a postgres:// URL (a session-mode pooler or a direct connection), or off.');
    return { kind: 'listen', url: listenUrl, source: 'DATABASE_LISTEN_URL' };
  }
  const session = options.derive === false ? undefined : supabaseSessionUrl(databaseUrl);
  if (session) return { kind: 'listen', url: session, source: 'session pooler' };
  if (isTransactionPooler(databaseUrl))
    return { kind: 'off', reason: 'DATABASE_URL is a transaction pooler (port 6543) and DATABASE_LISTEN_URL is unset' };
  return { kind: 'listen', url: databaseUrl, source: 'DATABASE_URL' };
}

/**
 * The app's parts for a deployment, from the environment: shared by `npm start` and the Netlify function.
 * `localJwtSecret` is the secret generated in .data/ (local mode only).
 */
export function appDepsFromEnv(
  env: NodeJS.ProcessEnv,
  options: { db?: Db; localJwtSecret?: string; onTaskCreated?: AppDeps['onTaskCreated']; onWebhookQueued?: AppDeps['onWebhookQueued'] },
): AppDeps {
  const { db } = options;
  const auth = authConfigFromEnv(env, options.localJwtSecret);
  const supabaseUrl = env.SUPABASE_URL?.replace(/\/+$/, '');
  const stripe = stripeConfigFromEnv(env);
  return {
    version: contract.info.version,
    db,
    pingDatabase: db ? () => ping(db) : undefined,
    verifyAccessToken: auth ? createTokenVerifier(auth) : undefined,
    invitationUrl: env.INVITATION_URL,
    mailer: supabaseUrl && env.SUPABASE_SERVICE_ROLE_KEY ? createSupabaseMailer(supabaseUrl, env.SUPABASE_SERVICE_ROLE_KEY) : undefined,
    stripe: { config: stripe, client: createStripeClient(stripe) },
    onTaskCreated: options.onTaskCreated,
    onWebhookQueued: options.onWebhookQueued,
    allowPrivateWebhookUrls: env.WEBHOOKS_ALLOW_PRIVATE_URLS === 'true',
    providers: new Set(Object.keys(providersFromEnv(env))),
  };
}
