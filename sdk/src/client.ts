// The typed client: openapi-fetch over the types generated from the contract, with credentials, automatic
// Idempotency-Keys, retries of safe requests and typed network errors underneath. The same code talks to the
// Prism mock, a local server or production; only `baseUrl` changes.
import createClient, { type Client, type ClientOptions, type Middleware } from 'openapi-fetch';
import type { paths } from './generated/api.js';
import { StaffroomNetworkError, StaffroomTimeoutError, type ErrorCode } from './errors.js';
import { takesIdempotencyKey } from './idempotency.js';

/** Answers typed as JSON: a representation in another media type (an employee as Markdown) is asked for with `Accept` and `parseAs: 'text'`. */
export type StaffroomClient = Client<paths, 'application/json'>;

/**
 * What the client needs of a supabase-js client (`createClient` from `@supabase/supabase-js`): its session's
 * access token, and a refresh when the service says the token expired. Typed by shape, so that the SDK never
 * loads supabase-js itself.
 */
export interface SupabaseAuthSource {
  auth: {
    getSession(): Promise<{ data: { session: { access_token: string } | null } }>;
    refreshSession(): Promise<{ data: { session: { access_token: string } | null } }>;
  };
}

export interface StaffroomClientOptions {
  /** e.g. `http://localhost:3000` (local), `http://127.0.0.1:4010` (mock) or the production URL. */
  baseUrl: string;
  /** A Supabase access token, sent as `Authorization: Bearer`; a function is asked before every request. */
  accessToken?: string | (() => string | Promise<string>);
  /** An organization API key, sent as `X-Api-Key`. */
  apiKey?: string;
  /**
   * A signed-in supabase-js client: each request sends its current session's access token (supabase-js
   * refreshes it as it nears expiry); an answer `401 TOKEN_EXPIRED` makes the client refresh the session once
   * and send the request again. Takes the place of `accessToken`.
   */
  supabase?: SupabaseAuthSource;
  fetch?: ClientOptions['fetch'];
  headers?: Record<string, string>;
  /**
   * How many times a request is sent again (default 2) when waiting may help: it got no answer, or an error
   * whose code the contract marks retryable (`x-retryable` on `ErrorCode`: `RATE_LIMITED`, `UNAVAILABLE`,
   * `REQUEST_TIMEOUT`, `CONCURRENT_UPDATE`), or a proxy's `502`, `503` or `504` without the service's envelope.
   * Never what waiting does not clear: `TASK_LIMIT_REACHED`, `PAYMENT_REQUIRED`, plan limits and every other
   * code come back at once. Only GET, HEAD, OPTIONS, PUT and DELETE, and POSTs that carry an `Idempotency-Key`.
   * The wait is `Retry-After` when the answer gives one, else exponential backoff with full jitter. `0` turns
   * retries off; `retrying(client, { retries })` sets it for one call.
   */
  retries?: number;
  /**
   * The most time a call spends waiting between its attempts, in all (default 10 000 ms): a `Retry-After` that
   * does not fit in what is left is not waited for, and the answer is returned as it is.
   */
  maxRetryWaitMs?: number;
  /** Give up on an attempt that has no answer (status and headers) after this long; none by default. */
  timeoutMs?: number;
}

/** What the helpers (`streamTaskEvents`, `waitForTask`, ...) need of a client beyond its typed methods. */
export interface ClientInternals {
  baseUrl: string;
  headers: Record<string, string>;
  /** Sets the credentials on a request's headers. */
  authorize(headers: Headers): Promise<void>;
  /** Sends a request with the client's retries (or `retry`'s), timeout and token refresh. */
  send(request: Request, options?: { timeout?: boolean; retry?: RetryPolicy }): Promise<Response>;
}

/** How a call is retried: see `StaffroomClientOptions.retries` and `maxRetryWaitMs`. */
export interface RetryPolicy {
  retries?: number;
  maxRetryWaitMs?: number;
}

const internalsOf = new WeakMap<object, ClientInternals>();

export function clientInternals(client: StaffroomClient): ClientInternals {
  const internals = internalsOf.get(client);
  if (!internals) throw new TypeError('Pass a client made by createStaffroomClient.');
  return internals;
}

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
/**
 * The codes waiting may clear, as the contract marks them (`x-retryable` on `ErrorCode`; a test keeps the two
 * equal): a retry after `Retry-After`, or a backoff, can succeed.
 */
export const retryableCodes: readonly ErrorCode[] = ['REQUEST_TIMEOUT', 'CONCURRENT_UPDATE', 'RATE_LIMITED', 'UNAVAILABLE'];
const retryable: ReadonlySet<string> = new Set(retryableCodes);
/** Statuses whose answer may be retryable: its code decides, or (no envelope: a proxy's page) the status alone. */
const statusesToRead = new Set([408, 409, 429, 502, 503, 504]);
const proxyStatuses = new Set([502, 503, 504]);
const backoffBaseMs = 250;
const backoffCapMs = 8_000;
const defaultMaxRetryWaitMs = 10_000;

export function createStaffroomClient(options: StaffroomClientOptions): StaffroomClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const fetchOnce = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const defaults: Required<RetryPolicy> = {
    retries: Math.max(0, Math.floor(options.retries ?? 2)),
    maxRetryWaitMs: Math.max(0, options.maxRetryWaitMs ?? defaultMaxRetryWaitMs),
  };
  const credentials = credentialsOf(options);

  async function authorize(headers: Headers): Promise<void> {
    const token = await credentials.token();
    if (token) headers.set('Authorization', `Bearer ${token}`);
    if (options.apiKey) headers.set('X-Api-Key', options.apiKey);
  }

  async function send(request: Request, { timeout = true, retry }: { timeout?: boolean; retry?: RetryPolicy } = {}): Promise<Response> {
    const retriable = safeMethods.has(request.method) || (request.method === 'POST' && request.headers.has('Idempotency-Key'));
    const retries = retry?.retries === undefined ? defaults.retries : Math.max(0, Math.floor(retry.retries));
    let waitLeft = retry?.maxRetryWaitMs === undefined ? defaults.maxRetryWaitMs : Math.max(0, retry.maxRetryWaitMs);
    const callerSignal = request.signal;
    let current = request;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await attemptOnce(fetchOnce, current, timeout ? options.timeoutMs : undefined);
      } catch (error) {
        if (callerSignal.aborted || !(error instanceof StaffroomNetworkError)) throw error;
        if (!retriable || attempt >= retries) throw error;
        const wait = Math.min(fullJitter(attempt), waitLeft);
        waitLeft -= wait;
        await sleep(wait, callerSignal);
        continue;
      }
      // An expired token: the request did nothing, so it is sent again, once, with a fresh token.
      if (response.status === 401 && !refreshed && credentials.refresh && (await saysTokenExpired(response))) {
        refreshed = true;
        const token = await credentials.refresh();
        if (token && `Bearer ${token}` !== current.headers.get('Authorization')) {
          const headers = new Headers(current.headers);
          headers.set('Authorization', `Bearer ${token}`);
          current = new Request(current, { headers });
          await discard(response);
          attempt--;
          continue;
        }
      }
      if (retriable && attempt < retries && statusesToRead.has(response.status) && (await waitingMayHelp(response))) {
        const wait = retryAfterMs(response.headers) ?? Math.min(fullJitter(attempt), waitLeft);
        if (wait <= waitLeft) {
          waitLeft -= wait;
          await discard(response);
          await sleep(wait, callerSignal);
          continue;
        }
      }
      return response;
    }
  }

  const client = createClient<paths, 'application/json'>({
    baseUrl,
    headers: options.headers,
    fetch: (request) => send(request),
    bodySerializer: serializeBody,
  });
  const prepare: Middleware = {
    async onRequest({ request, schemaPath }) {
      await authorize(request.headers);
      if (request.method === 'POST' && takesIdempotencyKey(schemaPath) && !request.headers.has('Idempotency-Key')) {
        request.headers.set('Idempotency-Key', newIdempotencyKey());
      }
      return request;
    },
  };
  client.use(prepare);
  internalsOf.set(client, { baseUrl, headers: { ...options.headers }, authorize, send });
  return client;
}

interface Credentials {
  token(): Promise<string | undefined>;
  /** A fresh token after `401 TOKEN_EXPIRED`, when the source of tokens can give one. */
  refresh?: () => Promise<string | undefined>;
}

function credentialsOf(options: StaffroomClientOptions): Credentials {
  const { supabase, accessToken } = options;
  if (supabase) {
    let refreshing: Promise<string | undefined> | undefined;
    return {
      token: async () => (await supabase.auth.getSession()).data.session?.access_token,
      // Requests that meet the expiry together share one refresh: a refresh token is good for one use.
      refresh: () =>
        (refreshing ??= supabase.auth
          .refreshSession()
          .then(({ data }) => data.session?.access_token)
          .finally(() => (refreshing = undefined))),
    };
  }
  if (typeof accessToken === 'function') {
    return { token: async () => await accessToken(), refresh: async () => await accessToken() };
  }
  return { token: async () => accessToken };
}

/** One attempt; a failure with no answer becomes StaffroomNetworkError (or StaffroomTimeoutError). */
async function attemptOnce(
  fetchOnce: (request: Request) => Promise<Response>,
  request: Request,
  timeoutMs: number | undefined,
): Promise<Response> {
  const timer = new AbortController();
  const timeout = timeoutMs && timeoutMs > 0 ? setTimeout(() => timer.abort(), timeoutMs) : undefined;
  const signal = timeout === undefined ? request.signal : AbortSignal.any([request.signal, timer.signal]);
  try {
    return await fetchOnce(new Request(request.clone(), { signal }));
  } catch (error) {
    if (request.signal.aborted) throw error;
    if (timer.signal.aborted) {
      throw new StaffroomTimeoutError(`${request.method} ${request.url} had no answer within ${timeoutMs} ms.`, { cause: error });
    }
    const reason = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    throw new StaffroomNetworkError(`${request.method} ${request.url} got no answer${reason}.`, { cause: error });
  } finally {
    clearTimeout(timeout);
  }
}

/** Whether the answer is one that waiting may clear: a retryable code, or a proxy's error page. */
async function waitingMayHelp(response: Response): Promise<boolean> {
  const code = await codeOf(response);
  return code === undefined ? proxyStatuses.has(response.status) : retryable.has(code);
}

async function codeOf(response: Response): Promise<string | undefined> {
  try {
    const body = (await response.clone().json()) as { error?: { code?: unknown } };
    return typeof body.error?.code === 'string' ? body.error.code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Another retry policy for one call: spread into its options.
 *
 *     await staffroom.POST('/v1/organizations/{orgId}/tasks', { params, body, ...retrying(staffroom, { retries: 0 }) });
 */
export function retrying(client: StaffroomClient, policy: RetryPolicy): { fetch: (request: Request) => Promise<Response> } {
  const { send } = clientInternals(client);
  return { fetch: (request) => send(request, { retry: policy }) };
}

async function saysTokenExpired(response: Response): Promise<boolean> {
  return (await codeOf(response)) === 'TOKEN_EXPIRED';
}

async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}

/** A random UUID; `crypto.randomUUID` exists only in secure contexts (https, localhost), `getRandomValues` everywhere. */
function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `Retry-After` in milliseconds: seconds, or an HTTP date. */
export function retryAfterMs(headers: Headers): number | undefined {
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** "Full jitter" exponential backoff: a random wait up to base × 2^attempt, capped. */
export function fullJitter(attempt: number, baseMs = backoffBaseMs, capMs = backoffCapMs): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}

/** Waits, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** JSON, except a string sent with a non-JSON `Content-Type` (an agent file as `text/markdown`), which goes as it is. */
function serializeBody(body: unknown, headers?: Headers | Record<string, string>): string | FormData {
  if (body instanceof FormData) return body;
  const contentType = headers instanceof Headers ? headers.get('content-type') : contentTypeOf(headers);
  if (typeof body === 'string' && contentType && !/json/i.test(contentType)) return body;
  if (contentType === 'application/x-www-form-urlencoded') return new URLSearchParams(body as Record<string, string>).toString();
  return JSON.stringify(body);
}

function contentTypeOf(headers: Record<string, string> | undefined): string | undefined {
  if (!headers) return undefined;
  const key = Object.keys(headers).find((name) => name.toLowerCase() === 'content-type');
  return key === undefined ? undefined : headers[key];
}
