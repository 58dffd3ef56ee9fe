// The transport-neutral core: every adapter (express, Netlify) turns its request into an HttpRequest and
// sends back the HttpResponse this returns. Routing and request validation are openapi-backend's, driven
// by the bundled contract; errors and the envelope are made here and nowhere else.
import { randomUUID } from 'node:crypto';
import { OpenAPIBackend, type Context, type Document } from 'openapi-backend';
import addFormats from 'ajv-formats';
import type { Logger } from 'pino';
import { stringify as toYaml } from 'yaml';
import contract from '../generated/openapi.json' with { type: 'json' };
import { handlers } from '../handlers/index.js';
import { ApiError } from '../kernel/errors.js';
import { fromDatabaseError } from '../db/errors.js';
import { withTimeLimit } from '../time-limit.js';
import { apiKeyPrefix, resolveApiKey } from '../services/api-keys.js';
import { userClaims } from '../kernel/caller.js';
import { toErrorDetails } from './validation-errors.js';
import type { AppDeps, HandlerRequest, HttpRequest, HttpResponse, OperationId, RequestContext } from './types.js';

export interface AppOptions {
  deps: AppDeps;
  log: Logger;
  /** Check every response against the contract; a violation becomes a 500 and an error log line. */
  validateResponses: boolean;
  /** The largest request body accepted, in bytes. */
  maxBodyBytes: number;
  /** How long a request may take before it answers 503; its transaction then rolls back instead of committing. */
  requestTimeoutMs?: number;
}

export interface App {
  handle(request: HttpRequest): Promise<HttpResponse>;
}

/** Per-request state threaded through openapi-backend's hooks as the handler argument. */
interface Exchange {
  http: HttpRequest;
  parsed: { method: string; path: string; query: string; headers: Record<string, string | string[]>; body?: unknown };
  ctx: RequestContext;
}

interface Outcome {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  operationId?: string;
}

const requestIdPattern = /^[A-Za-z0-9._-]{1,128}$/;

// Browsers call the API from any origin: credentials travel in headers, never in cookies, so `*` is safe.
const corsHeaders = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'X-Request-Id, Retry-After, Location',
};

function preflight(): Outcome {
  return {
    status: 204,
    headers: {
      'Access-Control-Allow-Methods': 'GET, POST, PATCH, DELETE, OPTIONS',
      'Access-Control-Allow-Headers': 'Authorization, Content-Type, X-Api-Key, Idempotency-Key, X-Request-Id',
      'Access-Control-Max-Age': '86400',
    },
  };
}
export const document = contract as unknown as Document;

export function contractYaml(): string {
  return toYaml(contract, { lineWidth: 0 });
}

export async function createApp(options: AppOptions): Promise<App> {
  const { deps, log } = options;
  const backend = new OpenAPIBackend({
    definition: structuredClone(document),
    quick: true,
    validate: true,
    coerceTypes: true,
    ajvOpts: { strict: false, useDefaults: true, allErrors: true },
    customizeAjv: (ajv) => {
      addFormats.default(ajv);
      return ajv;
    },
    handlers: {
      notFound: (): Outcome => {
        throw new ApiError('NOT_FOUND', 'No such route. See /v1/openapi.json for the operations.');
      },
      methodNotAllowed: (c: Context): Outcome => {
        const allowed = allowedMethods(c.request.path);
        throw new ApiError('METHOD_NOT_ALLOWED', `Use ${allowed.join(', ')} on this path.`, undefined, {
          headers: { Allow: allowed.join(', ') },
        });
      },
      postRoutingHandler: (c: Context, ex: Exchange): void => {
        const operationId = c.operation?.operationId as OperationId | undefined;
        if (!operationId) return;
        ex.parsed.body = parseBody(c, ex.http, options.maxBodyBytes);
        c.request.requestBody = ex.parsed.body;
      },
      unauthorizedHandler: (c: Context): Outcome => {
        // Report why the credentials that were sent failed; with none sent, say what to send.
        const failures = Object.values(c.security ?? {})
          .map((result) => (result as { error?: unknown } | undefined)?.error)
          .filter((error): error is ApiError => error instanceof ApiError);
        throw failures.find((e) => e.code !== 'UNAUTHENTICATED') ?? failures[0] ?? missingCredentials();
      },
      validationFail: (c: Context): Outcome => {
        throw new ApiError('VALIDATION_ERROR', 'The request is invalid.', toErrorDetails(c.validation.errors ?? []));
      },
    },
  });

  backend.registerSecurityHandler('bearerAuth', async (_c: Context, ex: Exchange) => {
    const header = single(ex.http.headers.authorization);
    if (!header) throw missingCredentials();
    const [scheme, token] = header.split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !token) throw new ApiError('TOKEN_INVALID', 'Authorization must be "Bearer <access token>".');
    if (token.startsWith(apiKeyPrefix)) throw new ApiError('TOKEN_INVALID', 'Send API keys in the X-Api-Key header, not Authorization.');
    if (!deps.verifyAccessToken) throw new ApiError('UNAVAILABLE', 'Sign-in is not configured on this deployment.');
    const user = await deps.verifyAccessToken(token);
    ex.ctx.caller = { kind: 'user', userId: user.userId, email: user.email, name: user.name, claims: userClaims(user, user.claims) };
    return ex.ctx.caller;
  });
  backend.registerSecurityHandler('apiKey', async (_c: Context, ex: Exchange) => {
    const secret = single(ex.http.headers['x-api-key']);
    if (!secret) throw missingCredentials();
    if (!deps.db) throw new ApiError('UNAVAILABLE', 'API keys need a database.');
    ex.ctx.caller = await resolveApiKey(deps.db, secret, { deadline: ex.ctx.deadline });
    return ex.ctx.caller;
  });

  for (const [operationId, handler] of Object.entries(handlers)) {
    backend.register(operationId, async (c: Context, ex: Exchange): Promise<Outcome> => {
      const coerced = c.validation?.coerced as { query?: unknown; params?: unknown } | undefined;
      const request = {
        params: coerced?.params ?? c.request.params,
        query: coerced?.query ?? c.request.query,
        headers: declaredHeaders(c),
        // Parsed once, by its media type: openapi-backend re-parses a string body that happens to be JSON.
        body: typeof ex.parsed.body === 'string' ? ex.parsed.body : c.request.requestBody,
        rawBody: ex.http.body,
      } as HandlerRequest<never>;
      const result = (await (handler as (r: unknown, ctx: RequestContext) => Promise<Outcome & { page?: unknown }>)(
        request,
        ex.ctx,
      ));
      const body =
        result.status === 204 ? undefined : { success: true, data: result.body, ...(result.page ? { page: result.page } : {}) };
      return { status: result.status, body, headers: result.headers, operationId };
    });
  }
  await backend.init();

  function allowedMethods(path: string): string[] {
    const normalized = path.replace(/\/+$/, '') || '/';
    return backend
      .getOperations()
      .filter((op) => new RegExp(`^${op.path.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(normalized))
      .map((op) => op.method.toUpperCase());
  }

  function checkResponseAgainstContract(outcome: Outcome, ctx: RequestContext): Outcome {
    if (!options.validateResponses || !outcome.operationId) return outcome;
    const operation = backend.getOperation(outcome.operationId);
    const declared = operation?.responses?.[String(outcome.status)];
    let problem: string | undefined;
    if (!declared) {
      problem = `status ${outcome.status} is not declared`;
    } else if (outcome.body !== undefined) {
      const result = backend.validateResponse(outcome.body, outcome.operationId, outcome.status);
      if (result.errors) problem = JSON.stringify(result.errors);
    }
    if (!problem) return outcome;
    ctx.log.error({ operationId: outcome.operationId, status: outcome.status, problem }, 'response violates the contract');
    return {
      status: 500,
      operationId: undefined,
      body: errorBody(new ApiError('INTERNAL', `The response of ${outcome.operationId} violates the contract.`), ctx.requestId),
    };
  }

  async function handle(http: HttpRequest): Promise<HttpResponse> {
    const started = performance.now();
    const incoming = single(http.headers['x-request-id']);
    const requestId = incoming && requestIdPattern.test(incoming) ? incoming : `req_${randomUUID().replace(/-/g, '')}`;
    const ctx: RequestContext = { requestId, log: log.child({ requestId }), deps, deadline: Date.now() + (options.requestTimeoutMs ?? 10_000) };
    let outcome: Outcome;
    try {
      outcome = http.method === 'OPTIONS' ? preflight() : await withinDeadline(route(http, ctx), ctx.deadline);
    } catch (error) {
      outcome = failure(error, ctx);
      outcome.operationId = (error as { operationId?: string }).operationId;
    }
    outcome = checkResponseAgainstContract(outcome, ctx);
    const headers: Record<string, string> = { ...corsHeaders, ...outcome.headers, 'X-Request-Id': requestId };
    let body = '';
    if (outcome.body !== undefined) {
      headers['Content-Type'] ??= 'application/json; charset=utf-8';
      body = typeof outcome.body === 'string' ? outcome.body : JSON.stringify(outcome.body);
    }
    ctx.log.info(
      {
        method: http.method,
        path: http.path,
        operationId: outcome.operationId,
        status: outcome.status,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
      },
      'request',
    );
    return { status: outcome.status, headers, body };
  }

  async function route(http: HttpRequest, ctx: RequestContext): Promise<Outcome> {
    if (http.method === 'GET' && http.path === '/v1/openapi.json') {
      return { status: 200, body: JSON.stringify(contract), headers: { 'Content-Type': 'application/json; charset=utf-8' } };
    }
    if (http.method === 'GET' && http.path === '/v1/openapi.yaml') {
      return { status: 200, body: contractYaml(), headers: { 'Content-Type': 'application/yaml; charset=utf-8' } };
    }
    if (!decodesAsUtf8(http.path)) {
      throw new ApiError('VALIDATION_ERROR', 'The path is not valid percent-encoded UTF-8.', [{ field: 'path', message: 'is not valid percent-encoding' }]);
    }
    // Postgres text cannot hold NUL: refuse it where it enters, naming where it is.
    for (const [field, raw] of [['path', http.path], ['query', http.query]] as const) {
      if (/%00/i.test(raw)) throw nulError(field);
    }
    const exchange: Exchange = {
      http,
      parsed: { method: http.method, path: http.path, query: http.query, headers: definedHeaders(http.headers) },
      ctx,
    };
    try {
      return (await backend.handleRequest(exchange.parsed, exchange)) as Outcome;
    } catch (error) {
      // Keep the operation on errors thrown after routing, so their status is checked against the contract.
      const matched = safeMatch(exchange.parsed);
      if (matched && error && typeof error === 'object') (error as { operationId?: string }).operationId = matched;
      throw error;
    }
  }

  function safeMatch(req: Exchange['parsed']): string | undefined {
    try {
      return backend.matchOperation(req)?.operationId;
    } catch {
      return undefined;
    }
  }

  function failure(error: unknown, ctx: RequestContext): Outcome {
    // Serialization failures and deadlocks are a concurrent request's doing; the client may simply retry.
    const sqlState = (error as { code?: unknown } | null)?.code;
    if (sqlState === '40001' || sqlState === '40P01') {
      ctx.log.warn({ err: error }, 'concurrent transaction conflict');
      error = new ApiError('CONFLICT', 'The request collided with a concurrent change; retry it.');
    }
    error = fromDatabaseError(error) ?? error;
    if (error instanceof ApiError) {
      // An expected 503 (a dependency down or not configured) is a warning without a stack; 500s carry their cause.
      if (error.status === 503) ctx.log.warn({ code: error.code, cause: describeCause(error.cause) }, error.message);
      else if (error.status >= 500) ctx.log.error({ err: error.cause ?? error, code: error.code }, error.message);
      return { status: error.status, body: errorBody(error, ctx.requestId), headers: { ...error.headers } };
    }
    ctx.log.error({ err: error }, 'unhandled error');
    return { status: 500, body: errorBody(new ApiError('INTERNAL', 'Something went wrong on our side.'), ctx.requestId) };
  }

  return { handle };
}

function missingCredentials(): ApiError {
  return new ApiError('UNAUTHENTICATED', 'Send a bearer token in Authorization or an API key in X-Api-Key.');
}

export function errorBody(error: ApiError, requestId: string): unknown {
  return {
    success: false,
    error: {
      code: error.code,
      message: error.message,
      ...(error.details?.length ? { details: error.details } : {}),
      requestId,
    },
  };
}

/** Checks the Content-Type against the operation's media types and parses the body: 415, 400 or the value. */
function parseBody(c: Context, http: HttpRequest, maxBodyBytes: number): unknown {
  const requestBody = c.operation.requestBody as
    | { required?: boolean; content?: Record<string, unknown> }
    | undefined;
  const hasBody = http.body !== undefined && http.body.length > 0;
  if (!requestBody) return undefined; // bodies sent to operations that take none are ignored, whatever their size
  if (http.body && http.body.length > maxBodyBytes) {
    throw new ApiError('PAYLOAD_TOO_LARGE', `The request body is larger than ${maxBodyBytes} bytes.`);
  }
  if (!hasBody) {
    if (requestBody.required) throw new ApiError('VALIDATION_ERROR', 'The request body is required.', [{ field: 'body', message: 'is required' }]);
    return undefined;
  }
  const accepted = Object.keys(requestBody.content ?? {});
  const mediaType = (single(http.headers['content-type']) ?? '').split(';')[0]!.trim().toLowerCase();
  if (!accepted.includes(mediaType)) {
    throw new ApiError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Send the body as ${accepted.join(' or ')}${mediaType ? `, not ${mediaType}` : ' (Content-Type is missing)'}.`,
    );
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(http.body);
  if (mediaType !== 'application/json') {
    if (text.includes('\u0000')) throw nulError('body');
    return text;
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    // The parser's message quotes the body; the client gets a plain statement instead.
    throw new ApiError('VALIDATION_ERROR', 'The request body is not valid JSON.', [{ field: 'body', message: 'is not valid JSON' }]);
  }
  // Only a \u escape can bring NUL or a lone surrogate into decoded text: walk the value only then.
  const unstorable = /\\u(0000|d[89a-f])/i.test(text) ? findUnstorableText(value, 'body') : undefined;
  if (unstorable) throw unstorableTextError(unstorable.field, unstorable.problem);
  return value;
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain NUL characters';
  if (loneSurrogate.test(text)) return 'must be valid Unicode (no unpaired surrogate)';
  return undefined;
}

/** The first field whose text (or key) Postgres cannot store, as `body.a.0.b`, and why. */
function findUnstorableText(value: unknown, field: string): { field: string; problem: string } | undefined {
  if (typeof value === 'string') {
    const problem = textProblem(value);
    return problem ? { field, problem } : undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, item] of Object.entries(value)) {
    const problem = textProblem(key);
    if (problem) return { field, problem };
    const found = findUnstorableText(item, `${field}.${key}`);
    if (found) return found;
  }
  return undefined;
}

function unstorableTextError(field: string, problem: string): ApiError {
  return new ApiError('VALIDATION_ERROR', `Invalid ${field}: text ${problem}.`, [{ field, message: problem }]);
}

function nulError(field: string): ApiError {
  return unstorableTextError(field, 'must not contain NUL characters');
}

/** The operation's header parameters under the names the contract gives them (requests arrive lowercased). */
function declaredHeaders(c: Context): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const parameter of (c.operation.parameters ?? []) as { in?: string; name?: string }[]) {
    if (parameter.in === 'header' && parameter.name) headers[parameter.name] = single(c.request.headers[parameter.name.toLowerCase()]);
  }
  return headers;
}

/** The outcome, or a 503 once the deadline passes (the work goes on only to roll back; see db/client.ts). */
function withinDeadline<T>(work: Promise<T>, deadline: number): Promise<T> {
  return withTimeLimit(
    work,
    deadline - Date.now(),
    () => new ApiError('UNAVAILABLE', 'The request took too long; nothing was changed. Retry it.', undefined, { headers: { 'Retry-After': '2' } }),
  );
}

function describeCause(cause: unknown): string | undefined {
  if (cause === undefined) return undefined;
  const { code, message } = (cause ?? {}) as { code?: unknown; message?: unknown };
  return [code, message].filter((part) => typeof part === 'string' && part).join(': ') || String(cause);
}

function decodesAsUtf8(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function definedHeaders(headers: HttpRequest['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name.toLowerCase()] = value;
  return out;
}
