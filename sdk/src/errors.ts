// What a call can fail with: an answer from the service (StaffroomError, with the contract's error code), or
// no answer at all (StaffroomNetworkError, StaffroomTimeoutError) instead of fetch's bare TypeError.
import type { components, operations } from './generated/api.js';

export type ErrorCode = components['schemas']['ErrorCode'];
export type ErrorDetail = components['schemas']['ErrorDetail'];

/** An operation of the contract, by its operationId (`createTask`, `updateMember`, ...). */
export type OperationId = keyof operations;

/** The codes an error body can carry: its `error.code` as the contract narrows it for that response. */
type CodeOfBody<Body> = Body extends unknown
  ? Body extends { error?: unknown }
    ? NonNullable<Body['error']> extends { code?: infer Code }
      ? Exclude<Code, undefined> & string
      : never
    : never
  : never;

/** The JSON bodies of a set of responses whose status is 4xx or 5xx. */
type ErrorBodies<Responses> = {
  [Status in keyof Responses]: `${Status & number}` extends `4${string}` | `5${string}`
    ? Responses[Status] extends { content: { 'application/json': infer Body } }
      ? Body
      : never
    : never;
}[keyof Responses];

/**
 * The error codes an operation can answer, as its contract declares them per error response: for `createTask`,
 * `'VALIDATION_ERROR' | 'UNAUTHENTICATED' | ... | 'MODEL_RETIRED' | 'TASK_LIMIT_REACHED' | ...`, never `'LAST_OWNER'`.
 * Within `/v1` an operation never gains a code (`npm run api:check` holds the contract to that).
 */
export type ErrorCodeOf<Operation extends OperationId> = CodeOfBody<ErrorBodies<operations[Operation]['responses']>>;

/** The codes of an openapi-fetch call's result, from its typed `error` (the error bodies of the operation it called). */
export type ErrorCodeOfResult<Result> = Result extends { error?: infer Body } ? CodeOfBody<NonNullable<Body>> : never;

/** What an operation fails with: a StaffroomError whose `code` is one of the operation's codes. */
export type OperationError<Operation extends OperationId> = StaffroomError<ErrorCodeOf<Operation>>;

/** The code a status stands for when the answer is not the service's envelope (a proxy's 502 page, say). */
const codeOfStatus: Record<number, ErrorCode> = {
  400: 'VALIDATION_ERROR',
  401: 'UNAUTHENTICATED',
  402: 'PAYMENT_REQUIRED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  412: 'PRECONDITION_FAILED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'UNAVAILABLE',
};

/**
 * The service answered with an error. Branch on `code`, never on `message`.
 *
 * `Code` is what the error can carry. Unnarrowed (as `unwrap` throws it), any code of the catalogue, or one a
 * newer service added to it (`string & {}`): treat a code you do not know by `status`. Narrowed to an
 * operation's codes (`attempt`, `OperationError<'createTask'>`), exactly the codes its contract declares, so
 * that a switch over them can be exhaustive.
 */
export class StaffroomError<Code extends string = ErrorCode | (string & {})> extends Error {
  override readonly name = 'StaffroomError';
  readonly code: Code;
  readonly status: number;
  /** Quote it when reporting a problem; from the body, else the `X-Request-Id` header. */
  readonly requestId: string | undefined;
  readonly details: ErrorDetail[] | undefined;
  /** The answer itself; its body has been read. */
  readonly response: Response | undefined;

  constructor(init: {
    code: Code;
    status: number;
    message: string;
    requestId?: string | undefined;
    details?: ErrorDetail[] | undefined;
    response?: Response | undefined;
  }) {
    super(init.message);
    this.code = init.code;
    this.status = init.status;
    this.requestId = init.requestId;
    this.details = init.details;
    this.response = init.response;
  }

  /** From an error answer and its parsed body (openapi-fetch's `error`). */
  static fromResponse(response: Response, body: unknown): StaffroomError {
    const error = isEnvelope(body) ? body.error : undefined;
    return new StaffroomError({
      code: error?.code ?? codeOfStatus[response.status] ?? (response.status >= 500 ? 'INTERNAL' : 'CONFLICT'),
      status: response.status,
      message:
        error?.message ??
        (typeof body === 'string' && body.trim() ? body.trim().slice(0, 500) : `${response.status} ${response.statusText}`.trim()),
      requestId: error?.requestId ?? response.headers.get('x-request-id') ?? undefined,
      details: error?.details,
      response,
    });
  }
}

/** No answer came: the connection failed or was cut. Safe requests were retried first. */
export class StaffroomNetworkError extends Error {
  override readonly name: string = 'StaffroomNetworkError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** No answer came within `timeoutMs` (a kind of network error). */
export class StaffroomTimeoutError extends StaffroomNetworkError {
  override readonly name = 'StaffroomTimeoutError';
}

function isEnvelope(body: unknown): body is components['schemas']['ErrorEnvelope'] {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false;
  const error = (body as { error: unknown }).error;
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string';
}

/** The envelope's `data` of a success body: `{ success: true, data }` → `data`. */
type DataOf<Body> = Body extends { data: infer D } ? D : Body;

/**
 * Awaits an openapi-fetch call and returns the envelope's `data`, or throws StaffroomError (unnarrowed: a
 * thrown error cannot be typed; use `attempt` to get the call's own codes).
 *
 *     const me = await unwrap(client.GET('/v1/me'));
 */
export async function unwrap<Result extends { data?: unknown; error?: unknown; response: Response }>(
  call: Promise<Result>,
): Promise<DataOf<NonNullable<Result['data']>>> {
  const { data, error, response } = await call;
  if (!response.ok) throw StaffroomError.fromResponse(response, error);
  return (typeof data === 'object' && data !== null && 'data' in data ? data.data : data) as DataOf<NonNullable<Result['data']>>;
}

/** What `attempt` resolves to: the envelope's `data`, or the error typed with the codes of the call's operation. */
export type Attempt<Result extends { data?: unknown; error?: unknown; response: Response }> =
  { data: DataOf<NonNullable<Result['data']>>; error?: undefined } | { data?: undefined; error: StaffroomError<ErrorCodeOfResult<Result>> };

/**
 * Awaits an openapi-fetch call like `unwrap`, but returns its error instead of throwing it, typed with the codes
 * the called operation declares, so that `switch (error.code)` can be exhaustive and a code the operation never
 * answers does not compile. Network errors (no answer) are still thrown.
 *
 *     const { data: task, error } = await attempt(client.POST('/v1/organizations/{orgId}/tasks', { params, body }));
 *     if (error) switch (error.code) { case 'PAYMENT_REQUIRED': ...; case 'TASK_LIMIT_REACHED': ...; default: ... }
 */
export async function attempt<Result extends { data?: unknown; error?: unknown; response: Response }>(
  call: Promise<Result>,
): Promise<Attempt<Result>> {
  try {
    return { data: await unwrap(call) } as Attempt<Result>;
  } catch (error) {
    if (error instanceof StaffroomError) return { error: error as StaffroomError<ErrorCodeOfResult<Result>> };
    throw error;
  }
}
