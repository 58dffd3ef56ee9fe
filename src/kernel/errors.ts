// The kernel: what every layer shares. It imports nothing of ours but the generated contract types.
import type { components } from '../generated/api.js';

export type ErrorCode = components['schemas']['ErrorCode'];
export type ErrorDetail = components['schemas']['ErrorDetail'];

/**
 * The one catalogue of error codes and the HTTP status each answers with: a code per cause a client must tell
 * apart, the generic ones (CONFLICT, FORBIDDEN) only where no specific one applies. The contract's ErrorCode
 * table documents each; a unit test keeps the two equal.
 */
export const errorStatus: Record<ErrorCode, number> = {
  VALIDATION_ERROR: 400,
  UNAUTHENTICATED: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_INVALID: 401,
  API_KEY_INVALID: 401,
  PAYMENT_REQUIRED: 402,
  FORBIDDEN: 403,
  INVITATION_EMAIL_MISMATCH: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  CONFLICT: 409,
  CONCURRENT_UPDATE: 409,
  IDEMPOTENCY_CONFLICT: 409,
  SLUG_TAKEN: 409,
  PLAN_LIMIT_REACHED: 409,
  LAST_OWNER: 409,
  ALREADY_MEMBER: 409,
  ALREADY_INVITED: 409,
  INVITATION_NOT_PENDING: 409,
  ALREADY_SUBSCRIBED: 409,
  NO_BILLING_ACCOUNT: 409,
  NOT_DELETED: 409,
  TASK_FINISHED: 409,
  TASK_NOT_FINISHED: 409,
  TASK_NOT_AWAITING_OUTPUTS: 409,
  MODEL_RETIRED: 409,
  MODEL_UNAVAILABLE: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  TASK_LIMIT_REACHED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
};

/**
 * An expected failure, thrown anywhere below a handler and turned into the error envelope in one place.
 * `cause` is for the log only and is never sent to the client.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApiError';
    this.status = errorStatus[code];
    this.headers = options?.headers ?? {};
  }
}

export const validationError = (field: string, message: string): ApiError =>
  new ApiError('VALIDATION_ERROR', `Invalid ${field}: ${message}.`, [{ field, message }]);

/** The database could not serve the transaction in time: unreachable, saturated, or past the deadline. */
export class DatabaseUnavailableError extends Error {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = 'DatabaseUnavailableError';
  }
}
