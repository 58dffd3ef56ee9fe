// What a request answers: the success envelope, the error envelope (made here and nowhere else), and the
// headers every response carries.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { ApiError } from '../kernel/errors.js';
import { entityTag } from '../kernel/etag.js';
import { fromDatabaseError } from '../db/errors.js';

/** A response before it is written: a body still to be serialised (or already text). */
export interface Outcome {
  status: number;
  body?: unknown;
  /** The body already serialised, when it was (frozen data). */
  text?: string;
  /** The body's entity tag, when it was computed with the text. */
  etag?: string;
  headers?: Record<string, string>;
  /** A body written as it is produced (Server-Sent Events), after the head. */
  stream?: AsyncIterable<string>;
}

/** Which browser origins may call the API: any (`*`), or those listed (CORS_ORIGINS). */
export type CorsOrigins = '*' | readonly string[];

const exposeHeaders =
  'X-Request-Id, Retry-After, Location, ETag, RateLimit, RateLimit-Policy, Idempotent-Replayed, Deprecation, Sunset, Link';
export const jsonType = 'application/json; charset=utf-8';

/**
 * What every response carries: the request id, the content-type guards, CORS for a browser's request (only
 * when it sends an Origin; credentials travel in headers, never cookies, so `*` is safe), the JSON content
 * type when there is a body, and the outcome's own headers (which win, but for the request id).
 */
export function responseHeaders(
  requestId: string,
  outcome: Outcome,
  origin: string | undefined,
  cors: CorsOrigins,
): Record<string, string> {
  // A literal of one shape, then the few extra headers: spreading objects with such keys is several times slower.
  const headers: Record<string, string> = {
    'X-Request-Id': requestId,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  };
  if (cors !== '*') headers.Vary = 'Origin';
  if (origin !== undefined) {
    const allowed = allowedOrigin(origin, cors);
    if (allowed) {
      headers['Access-Control-Allow-Origin'] = allowed;
      headers['Access-Control-Expose-Headers'] = exposeHeaders;
    }
  }
  if (outcome.body !== undefined) headers['Content-Type'] = jsonType;
  if (outcome.headers) {
    for (const name in outcome.headers) {
      if (name === 'X-Request-Id') continue;
      headers[name] = name === 'Vary' && headers.Vary ? `${headers.Vary}, ${outcome.headers[name]}` : outcome.headers[name]!;
    }
  }
  return headers;
}

function allowedOrigin(origin: string, cors: CorsOrigins): string | undefined {
  if (cors === '*') return '*';
  return cors.includes(origin) ? origin : undefined;
}

/** The answer to a CORS preflight: what a browser may send, for the origins allowed to send it. */
export function preflight(): Outcome {
  return {
    status: 204,
    headers: {
      'Access-Control-Allow-Methods': 'GET, POST, PATCH, DELETE, OPTIONS',
      'Access-Control-Allow-Headers': 'Authorization, Content-Type, X-Api-Key, Idempotency-Key, X-Request-Id, If-None-Match, If-Match',
      'Access-Control-Max-Age': '86400',
    },
  };
}

/**
 * A strict Content-Security-Policy for the self-contained Redoc page: its own inline scripts only (by hash, so
 * nothing injected runs), styles inline (Redoc writes them at run time), images and fonts from itself or data:
 * URLs, its search worker from a blob:, requests to this origin only, and no framing, plugins or forms.
 */
export function docsContentSecurityPolicy(html: string): string {
  const hashes = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
    (match) => `'sha256-${createHash('sha256').update(match[1]!).digest('base64')}'`,
  );
  return [
    "default-src 'none'",
    `script-src ${hashes.join(' ') || "'none'"}`,
    "style-src 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    'worker-src blob:',
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

/** Whether If-None-Match names the current tag (or `*`): weak comparison, as RFC 9110 asks for GET. */
export function notModified(ifNoneMatch: string | string[] | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const value = Array.isArray(ifNoneMatch) ? ifNoneMatch.join(',') : ifNoneMatch;
  if (value.trim() === '*') return true;
  for (const candidate of value.split(',')) {
    const tag = candidate.trim();
    if (tag === etag || tag === `W/${etag}`) return true;
  }
  return false;
}

// Envelopes of frozen data (the catalog), serialised once: by the data, with the page it was sent with.
const serialised = new WeakMap<object, { page: unknown; text: string; etag: string }>();

/** What any handler returns, as the core sees it (handlers/ types each operation's own from the contract). */
export interface HandlerOutput {
  status: number;
  body?: unknown;
  page?: unknown;
  warnings?: unknown;
  headers?: Record<string, string>;
  representation?: { contentType: string; text: string };
  stream?: { contentType: string; chunks: AsyncIterable<string> };
}

/** A handler's result in the success envelope; 204 has no body. Frozen data must be frozen all the way down. */
export function success(result: HandlerOutput): Outcome {
  if (result.status === 204) return { status: 204, headers: result.headers };
  if (result.stream) {
    return {
      status: result.status,
      stream: result.stream.chunks,
      headers: { ...result.headers, 'Content-Type': result.stream.contentType },
    };
  }
  // Another media type the operation declares (an employee as Markdown): the text itself, not the envelope.
  if (result.representation) {
    const { contentType, text } = result.representation;
    return { status: result.status, body: text, headers: { ...result.headers, 'Content-Type': contentType } };
  }
  const body = result.page
    ? { success: true, data: result.body, page: result.page }
    : result.warnings
      ? { success: true, data: result.body, warnings: result.warnings }
      : { success: true, data: result.body };
  const data = result.body;
  if (data !== null && typeof data === 'object' && Object.isFrozen(data) && (result.page === undefined || Object.isFrozen(result.page))) {
    let cached = serialised.get(data);
    if (!cached || cached.page !== result.page) {
      const text = JSON.stringify(body);
      serialised.set(data, (cached = { page: result.page, text, etag: entityTag(text) }));
    }
    return { status: result.status, body, text: cached.text, etag: cached.etag, headers: result.headers };
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
