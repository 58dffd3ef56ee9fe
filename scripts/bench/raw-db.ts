// The `raw-db` baseline of `npm run bench`: node:http + jose + postgres.js and nothing else, answering the
// database routes of the bench with the same SQL Staffroom runs for them, in the same kind of transaction:
//
//   begin
//   select set_config('role', 'authenticated', true), set_config('request.jwt.claims', <claims>, true), ...
//   <the statements of the service, in the same order>
//   commit
//
// What it leaves out is what the bench measures: routing and validation from the contract, the envelope and
// error mapping, logging, deadlines. Keep the SQL below in step with src/services/{organizations,api-keys}.ts
// and src/db/queries/{organizations,api-keys}.ts: the bench compares the statements both servers send and
// stops when they differ (see scripts/bench/cluster.ts, captureStatements).
//
// Env: PORT, HOST, DATABASE_URL, SUPABASE_JWT_SECRET, SUPABASE_JWT_ISSUER (checked when set).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { jwtVerify } from 'jose';
import postgres, { type TransactionSql } from 'postgres';
import { readBody, sendJson } from './baseline-http.js';

const port = Number(process.env.PORT);
const host = process.env.HOST ?? '127.0.0.1';
const { DATABASE_URL: databaseUrl, SUPABASE_JWT_SECRET: jwtSecret, SUPABASE_JWT_ISSUER: issuer } = process.env;
if (!Number.isInteger(port) || port <= 0 || !databaseUrl || !jwtSecret) {
  console.error('raw-db needs PORT, DATABASE_URL and SUPABASE_JWT_SECRET.');
  process.exit(2);
}

// The options of connect() in src/db/client.ts: a pool of 10, prepared statements.
const sql = postgres(databaseUrl, {
  max: 10,
  idle_timeout: 30,
  connect_timeout: 2,
  onnotice: () => undefined,
  connection: { TimeZone: 'UTC' },
  prepare: true,
});
const secretKey = new TextEncoder().encode(jwtSecret);
const statementTimeoutMs = 5_000;

/** An answer that ends the request early (bad token, unknown organization, wrong role). */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface User {
  userId: string;
  name: string | null;
  claims: Record<string, unknown>;
}

// The token claims that reach Postgres, in the order Staffroom's userClaims (src/kernel/caller.ts) adds them.
const passedClaims = ['iss', 'aud', 'exp', 'iat', 'session_id', 'aal', 'amr', 'is_anonymous', 'phone', 'app_metadata'];

/** Verifies the bearer token (HS256, audience `authenticated`) and builds the claims the transaction runs with. */
async function authenticate(req: IncomingMessage): Promise<User> {
  const [scheme, token] = (req.headers.authorization ?? '').split(' ');
  if (scheme?.toLowerCase() !== 'bearer' || !token) throw new HttpError(401, 'UNAUTHENTICATED', 'Send a bearer token.');
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, secretKey, {
      algorithms: ['HS256'],
      audience: 'authenticated',
      requiredClaims: ['exp', 'sub'],
      ...(issuer ? { issuer } : {}),
      clockTolerance: 5,
    }));
  } catch {
    throw new HttpError(401, 'TOKEN_INVALID', 'The access token does not verify.');
  }
  if (typeof payload.sub !== 'string' || typeof payload.email !== 'string') throw new HttpError(401, 'TOKEN_INVALID', 'No sub or email.');
  const claims: Record<string, unknown> = { sub: payload.sub, email: payload.email.toLowerCase(), role: 'authenticated' };
  for (const name of passedClaims) if (payload[name] !== undefined) claims[name] = payload[name];
  const metadata = (payload.user_metadata ?? {}) as { name?: unknown; full_name?: unknown };
  const name = typeof metadata.full_name === 'string' ? metadata.full_name : typeof metadata.name === 'string' ? metadata.name : null;
  return { userId: payload.sub, name, claims };
}

/** One transaction as `authenticated` with the caller's claims: what withUser() in src/db/client.ts runs. */
// Request ids in the server's format (what audit records keep): a process prefix and a counter, as Staffroom makes them.
const requestIdPrefix = `req_${randomUUID().replace(/-/g, '').slice(0, 20)}`;
let requestCount = 0;
const requestId = () => requestIdPrefix + (++requestCount).toString(16).padStart(12, '0');

function asUser<T>(user: User, work: (tx: TransactionSql) => Promise<T>): Promise<T> {
  return sql.begin(async (tx) => {
    await tx`
    select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${JSON.stringify(user.claims)}, true),
           set_config('staffroom.request_id', ${requestId()}, true), set_config('statement_timeout', ${String(statementTimeoutMs)}, true)`;
    return work(tx);
  }) as Promise<T>;
}

interface OrganizationRow {
  id: string;
  role: string | null;
  [column: string]: unknown;
}

interface ApiKeyRow {
  id: string;
  createdAt: string;
  [column: string]: unknown;
}

/** findOrganization(tx, id) of src/db/queries/organizations.ts; 404 when the caller has no role in it (requireOrganization). */
async function requireOrganization(tx: TransactionSql, orgId: string): Promise<OrganizationRow> {
  const [org] = await tx<OrganizationRow[]>`
    select o.id, o.name, o.slug, staffroom.org_role(o.id, true) as role, o.plan_id as "planId", o.default_model as "defaultModel",
      to_json(o.created_at)#>>'{}' as "createdAt", to_json(o.updated_at)#>>'{}' as "updatedAt",
      to_json(o.deleted_at)#>>'{}' as "deletedAt" from staffroom.organizations o
    where o.id = ${orgId} and o.deleted_at is null`;
  if (!org || !org.role) throw new HttpError(404, 'NOT_FOUND', 'Organization not found.');
  return org;
}

function requireKeyManager(org: OrganizationRow): void {
  if (org.role !== 'owner' && org.role !== 'admin') throw new HttpError(403, 'FORBIDDEN', 'Only owners and admins can manage API keys.');
}

/** The columns of an API key, as keyColumns in src/db/queries/api-keys.ts. */
async function findApiKey(tx: TransactionSql, orgId: string, id: string): Promise<ApiKeyRow | undefined> {
  const [key] = await tx<ApiKeyRow[]>`
    select k.id, k.name, k.prefix, k.created_by as "createdBy", to_json(k.created_at)#>>'{}' as "createdAt",
      to_json(k.last_used_at)#>>'{}' as "lastUsedAt", to_json(k.expires_at)#>>'{}' as "expiresAt",
      to_json(k.revoked_at)#>>'{}' as "revokedAt" from staffroom.api_keys k where k.organization_id = ${orgId} and k.id = ${id}`;
  return key;
}

/** GET /v1/organizations/{orgId}: getOrganization. */
async function getOrganization(user: User, orgId: string): Promise<[number, unknown]> {
  const org = await asUser(user, (tx) => requireOrganization(tx, orgId));
  return [200, { success: true, data: org }];
}

/** GET /v1/organizations/{orgId}/api-keys: listApiKeys, one keyset page (limit + 1 rows tell whether there is a next). */
async function listApiKeys(user: User, orgId: string, limit: number): Promise<[number, unknown]> {
  const rows = await asUser(user, async (tx) => {
    requireKeyManager(await requireOrganization(tx, orgId));
    return tx<ApiKeyRow[]>`
    select k.id, k.name, k.prefix, k.created_by as "createdBy", to_json(k.created_at)#>>'{}' as "createdAt",
      to_json(k.last_used_at)#>>'{}' as "lastUsedAt", to_json(k.expires_at)#>>'{}' as "expiresAt",
      to_json(k.revoked_at)#>>'{}' as "revokedAt" from staffroom.api_keys k
    where k.organization_id = ${orgId}
      and k.revoked_at is null
    order by k.created_at desc, k.id desc limit ${limit + 1}`;
  });
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  const nextCursor =
    rows.length > limit && last ? Buffer.from(JSON.stringify({ t: last.createdAt, i: last.id })).toString('base64url') : null;
  return [200, { success: true, data: items, page: { nextCursor } }];
}

/** An `sk_live_` secret of 40 characters from the same alphabet as generateApiKeySecret(). */
const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function newSecret(): string {
  let body = '';
  for (const byte of randomBytes(40)) body += alphabet[byte % alphabet.length];
  return `sk_live_${body}`;
}

/** POST /v1/organizations/{orgId}/api-keys: createApiKey (role check, profile sync, insert, read back). */
async function createApiKey(user: User, orgId: string, input: { name: string }): Promise<[number, unknown, Record<string, string>]> {
  const secret = newSecret();
  const requestId = `req_${randomUUID().replace(/-/g, '')}`;
  const key = await asUser(user, async (tx) => {
    requireKeyManager(await requireOrganization(tx, orgId));
    await tx`select staffroom.sync_profile(${user.name})`;
    const [row] = await tx<{ id: string }[]>`
    select staffroom.create_api_key(${orgId}, ${input.name}, ${secret.slice(0, 13)}, ${createHash('sha256').update(secret).digest('hex')},
                                    ${null}::text::timestamptz, ${requestId}) as id`;
    return findApiKey(tx, orgId, row!.id);
  });
  return [201, { success: true, data: { ...key, secret } }, { Location: `/v1/organizations/${orgId}/api-keys/${key!.id}` }];
}

const organizationPath = /^\/v1\/organizations\/([0-9a-f-]{36})$/;
const apiKeysPath = /^\/v1\/organizations\/([0-9a-f-]{36})\/api-keys$/;

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/v1/health') {
    sendJson(res, 200, { success: true, data: { status: 'ok' } });
    return;
  }
  let match: RegExpExecArray | null;
  if (req.method === 'GET' && (match = organizationPath.exec(url.pathname))) {
    const [status, body] = await getOrganization(await authenticate(req), match[1]!);
    sendJson(res, status, body);
    return;
  }
  if (req.method === 'GET' && (match = apiKeysPath.exec(url.pathname))) {
    const limit = Number(url.searchParams.get('limit') ?? 20);
    const [status, body] = await listApiKeys(await authenticate(req), match[1]!, Number.isInteger(limit) && limit > 0 ? limit : 20);
    sendJson(res, status, body);
    return;
  }
  if (req.method === 'POST' && (match = apiKeysPath.exec(url.pathname))) {
    const user = await authenticate(req);
    const input = JSON.parse((await readBody(req)).toString('utf8')) as { name?: unknown };
    if (typeof input.name !== 'string') throw new HttpError(400, 'VALIDATION_ERROR', 'body.name is required.');
    const [status, body, headers] = await createApiKey(user, match[1]!, { name: input.name });
    sendJson(res, status, body, headers);
    return;
  }
  throw new HttpError(404, 'NOT_FOUND', 'No such route.');
}

const server = createServer((req, res) => {
  handle(req, res).catch((error: unknown) => {
    if (res.headersSent) return;
    if (error instanceof HttpError) {
      sendJson(res, error.status, { success: false, error: { code: error.code, message: error.message } });
      return;
    }
    console.error(error);
    sendJson(res, 500, { success: false, error: { code: 'INTERNAL', message: 'raw-db failed.' } });
  });
});
server.listen(port, host);

function shutdown(): void {
  server.close(() => {
    void sql.end({ timeout: 2 }).finally(() => process.exit(0));
  });
  setTimeout(() => process.exit(0), 3_000).unref();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
