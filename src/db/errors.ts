// Database failures as the API reports them: the functions' own errors, and an unreachable database.
import { ApiError, DatabaseUnavailableError, errorStatus, type ErrorCode, type ErrorDetail } from '../kernel/errors.js';

const databaseHint = /^staffroom:([A-Z_]+)$/;
// Connection failures (the client's codes, and SQLSTATE class 08), a server shutting down or refusing
// connections (57P01-57P03), too many connections (53300) and a statement timeout (57014).
const unreachable =
  /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|CONNECT_TIMEOUT|CONNECTION_(CLOSED|ENDED|DESTROYED)|08...|57P0[123]|53300|57014)$/;

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
  // A limit that frees itself as work finishes (429): say when to look again.
  const headers = errorStatus[errorCode as ErrorCode] === 429 ? { 'Retry-After': '5' } : undefined;
  return new ApiError(errorCode as ErrorCode, message, details, { cause: error, headers });
}
