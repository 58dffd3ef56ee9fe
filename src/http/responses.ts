// What a request answers: the success envelope, the error envelope (made here and nowhere else), and the
// headers every response carries.
import type { Logger } from 'pino';
import { ApiError } from '../kernel/errors.js';
import { fromDatabaseError } from '../db/errors.js';

/** A response before it is written: a body still to be serialised (or already text). */
export interface Outcome {
  status: number;
  body?: unknown;
  /** The body already serialised, when it was (frozen data). */
  text?: string;
  headers?: Record<string, string>;
}

// Browsers call the API from any origin: credentials travel in headers, never in cookies, so `*` is safe.
const allowOrigin = '*';
const exposeHeaders = 'X-Request-Id, Retry-After, Location';
export const jsonType = 'application/json; charset=utf-8';

/** CORS, the request id, the JSON content type when there is a body, and the outcome's own headers (which win). */
export function responseHeaders(requestId: string, outcome: Outcome): Record<string, string> {
  // A literal of one shape, then the few extra headers: spreading objects with such keys is several times slower.
  const headers: Record<string, string> = {
    'Access-Control-Allow-Origin': allowOrigin,
    'Access-Control-Expose-Headers': exposeHeaders,
    'X-Request-Id': requestId,
  };
  if (outcome.body !== undefined) headers['Content-Type'] = jsonType;
  if (outcome.headers) for (const name in outcome.headers) if (name !== 'X-Request-Id') headers[name] = outcome.headers[name]!;
  return headers;
}

export function preflight(): Outcome {
  return {
    status: 204,
    headers: {
      'Access-Control-Allow-Methods': 'GET, POST, PATCH, DELETE, OPTIONS',
      'Access-Control-Allow-Headers': 'Authorization, Content-Type, X-Api-Key, Idempotency-Key, X-Request-Id',
      'Access-Control-Max-Age': '86400',
    },
  };
}

// Envelopes of frozen data (the catalog), serialised once: by the data, with the page it was sent with.
const serialised = new WeakMap<object, { page: unknown; text: string }>();

/** A handler's result in the success envelope; 204 has no body. Frozen data must be frozen all the way down. */
export function success(result: { status: number; body?: unknown; page?: unknown; headers?: Record<string, string> }): Outcome {
  if (result.status === 204) return { status: 204, headers: result.headers };
  const body = result.page ? { success: true, data: result.body, page: result.page } : { success: true, data: result.body };
  const data = result.body;
  if (data !== null && typeof data === 'object' && Object.isFrozen(data) && (result.page === undefined || Object.isFrozen(result.page))) {
    let cached = serialised.get(data);
    if (!cached || cached.page !== result.page) serialised.set(data, (cached = { page: result.page, text: JSON.stringify(body) }));
    return { status: result.status, body, text: cached.text, headers: result.headers };
  }
  return { status: result.status, body, headers: result.headers };
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

/**
 * Any error as the envelope. A client's mistake (4xx) is logged at info, an expected 503 (a dependency down
 * or not configured) as a warning without a stack; 500s carry their cause to the log, never to the client.
 */
export function failure(error: unknown, requestId: string, log: Logger): Outcome {
  // Serialization failures and deadlocks are a concurrent request's doing; the client may simply retry.
  const sqlState = (error as { code?: unknown } | null)?.code;
  if (sqlState === '40001' || sqlState === '40P01') {
    log.warn({ err: error }, 'concurrent transaction conflict');
    error = new ApiError('CONCURRENT_UPDATE', 'The request collided with a concurrent change; retry it.');
  }
  error = fromDatabaseError(error) ?? error;
  if (error instanceof ApiError) {
    if (error.status === 503) log.warn({ code: error.code, cause: describeCause(error.cause) }, error.message);
    else if (error.status >= 500) log.error({ err: error.cause ?? error, code: error.code }, error.message);
    else log.info({ code: error.code, details: error.details }, error.message);
    return { status: error.status, body: errorBody(error, requestId), headers: error.headers };
  }
  log.error({ err: error }, 'unhandled error');
  return { status: 500, body: errorBody(new ApiError('INTERNAL', 'Something went wrong on our side.'), requestId) };
}

function describeCause(cause: unknown): string | undefined {
  if (cause === undefined) return undefined;
  const { code, message } = (cause ?? {}) as { code?: unknown; message?: unknown };
  return [code, message].filter((part) => typeof part === 'string' && part).join(': ') || String(cause);
}
