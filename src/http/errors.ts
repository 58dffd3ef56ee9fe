import { DatabaseUnavailableError } from '../db/client.js';
import type { components } from '../generated/api.js';

export type ErrorCode = components['schemas']['ErrorCode'];
export type ErrorDetail = components['schemas']['ErrorDetail'];

/** The one catalogue of error codes and the HTTP status each answers with. */
export const errorStatus: Record<ErrorCode, number> = {
  VALIDATION_ERROR: 400,
  UNAUTHENTICATED: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_INVALID: 401,
  API_KEY_INVALID: 401,
  PAYMENT_REQUIRED: 402,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  IDEMPOTENCY_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
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

const databaseHint = /^staffroom:([A-Z_]+)$/;
// Connection failures (the client's codes, and SQLSTATE class 08), a server shutting down or refusing
// connections (57P01-57P03), too many connections (53300) and a statement timeout (57014).
const unreachable = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|CONNECT_TIMEOUT|CONNECTION_(CLOSED|ENDED|DESTROYED)|08...|57P0[123]|53300|57014)$/;

/**
 * The database functions raise expected failures as SQLSTATE P0001 with hint `staffroom:<ErrorCode>`, a
 * message written for the client and, in `detail`, the error's details as JSON. Anything else: undefined.
 */
export function fromDatabaseError(error: unknown): ApiError | undefined {
  const { code, hint, message, detail } = (error ?? {}) as { code?: unknown; hint?: unknown; message?: unknown; detail?: unknown };
  if (error instanceof DatabaseUnavailableError || (typeof code === 'string' && unreachable.test(code))) {
    return new ApiError('UNAVAILABLE', 'The database is not reachable right now; nothing was changed. Retry shortly.', undefined, {
      cause: error,
      headers: { 'Retry-After': '2' },
    });
  }
  if (code !== 'P0001' || typeof hint !== 'string' || typeof message !== 'string') return undefined;
  const errorCode = databaseHint.exec(hint)?.[1];
  if (!errorCode || !(errorCode in errorStatus)) return undefined;
  let details: ErrorDetail[] | undefined;
  if (typeof detail === 'string' && detail) {
    try {
      details = JSON.parse(detail) as ErrorDetail[];
    } catch {
      details = undefined;
    }
  }
  return new ApiError(errorCode as ErrorCode, message, details, { cause: error });
}
