// What a call can fail with: an answer from the service (StaffroomError, with the contract's error code), or
// no answer at all (StaffroomNetworkError, StaffroomTimeoutError) instead of fetch's bare TypeError.
import type { components } from './generated/api.js';

export type ErrorCode = components['schemas']['ErrorCode'];
export type ErrorDetail = components['schemas']['ErrorDetail'];

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

/** The service answered with an error. Branch on `code`, never on `message`. */
export class StaffroomError extends Error {
  override readonly name = 'StaffroomError';
  /** The contract's `ErrorCode`; a newer service may send a code this SDK does not list: treat it by `status`. */
  readonly code: ErrorCode | (string & {});
  readonly status: number;
  /** Quote it when reporting a problem; from the body, else the `X-Request-Id` header. */
  readonly requestId: string | undefined;
  readonly details: ErrorDetail[] | undefined;
  /** The answer itself; its body has been read. */
  readonly response: Response | undefined;

  constructor(init: {
    code: ErrorCode | (string & {});
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
 * Awaits an openapi-fetch call and returns the envelope's `data`, or throws StaffroomError.
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
