// Rate limits as the HTTP layer applies them: which operations count, and the headers of the verdict
// (draft-ietf-httpapi-ratelimit-headers, with Retry-After when the request is refused).
import { ApiError } from '../kernel/errors.js';
import type { RequestContext } from '../kernel/context.js';
import type { Db } from '../db/client.js';
import { addressKey, checkRateLimit, countFailedAuthentication, type RateLimitVerdict } from '../services/rate-limits.js';
import type { Operation } from './contract.js';
import { requiresCaller } from './security.js';
import type { HttpRequest } from './types.js';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** How long the count may take before the request answers 503, like any other wait for the database. */
const waitMs = 1_500;

/**
 * Counts a request: every operation with a caller, and those without credentials that do work (they may
 * answer 503: the Stripe webhook), by client address. The catalog and health answer from memory: not counted.
 * Answers the headers to send, or throws 429 with them when a budget is spent.
 */
export async function enforceRateLimit(
  db: Db,
  operation: Operation,
  params: Record<string, string>,
  http: HttpRequest,
  ctx: RequestContext,
): Promise<Record<string, string> | undefined> {
  if (!ctx.caller && !operation.responses['503']) return undefined;
  const orgId = params.orgId !== undefined && uuid.test(params.orgId) ? params.orgId : undefined;
  const verdict = await checkRateLimit(db, { caller: ctx.caller, organizationId: orgId, clientAddress: http.clientAddress }, waitMs);
  if (!verdict) return undefined;
  const headers = rateLimitHeaders(verdict);
  if (!verdict.allowed) throw rateLimited(verdict);
  return headers;
}

/**
 * Failed authentications by client address. A 401 that came of credentials the request sent (a request that
 * sent none costs no lookup and is not counted) counts in the address's `failed-auth` budget in Postgres; past
 * it, the answer is 429, and this instance keeps the verdict until the budget has room again, refusing the
 * address's requests before their credentials are looked up or verified.
 */
export interface FailedAuthentications {
  /** Throws 429, from memory, when the request's address is known to have spent its failure budget. */
  refuseSpent(operation: Operation, http: HttpRequest): void;
  /** Counts `error` when it is a failed authentication; throws 429 when that was past the budget. */
  count(db: Db, http: HttpRequest, error: unknown): Promise<void>;
}

/** How many spent addresses an instance remembers; past it the oldest is forgotten (and costs a lookup again). */
const spentAddressesKept = 10_000;

export function createFailedAuthentications(): FailedAuthentications {
  const spent = new Map<string, { verdict: RateLimitVerdict; at: number; until: number }>();
  return {
    refuseSpent(operation, http) {
      if (spent.size === 0 || http.clientAddress === undefined || !requiresCaller(operation)) return;
      const key = addressKey(http.clientAddress);
      const entry = spent.get(key);
      if (!entry) return;
      const now = Date.now();
      if (entry.until <= now) {
        spent.delete(key);
        return;
      }
      const elapsed = Math.floor((now - entry.at) / 1000);
      throw rateLimited({
        ...entry.verdict,
        resetSeconds: Math.max(1, entry.verdict.resetSeconds - elapsed),
        retryAfterSeconds: Math.max(1, Math.ceil((entry.until - now) / 1000)),
      });
    },
    async count(db, http, error) {
      if (!(error instanceof ApiError) || error.status !== 401 || error.code === 'UNAUTHENTICATED') return;
      if (http.clientAddress === undefined) return;
      const verdict = await countFailedAuthentication(db, http.clientAddress, waitMs);
      if (!verdict || verdict.allowed) return;
      const key = addressKey(http.clientAddress);
      const at = Date.now();
      spent.delete(key);
      if (spent.size >= spentAddressesKept) spent.delete(spent.keys().next().value!);
      spent.set(key, { verdict, at, until: at + (verdict.retryAfterSeconds ?? 1) * 1000 });
      throw rateLimited(verdict);
    },
  };
}

function rateLimited(verdict: RateLimitVerdict): ApiError {
  const wait = verdict.retryAfterSeconds ?? 1;
  const what =
    verdict.bucket === 'failed-auth' ? 'failed authentications from this client address' : `requests for this ${describe(verdict.bucket)}`;
  return new ApiError('RATE_LIMITED', `Too many ${what}; retry in ${wait} second${wait === 1 ? '' : 's'}.`, undefined, {
    headers: { ...rateLimitHeaders(verdict), 'Retry-After': String(wait) },
  });
}

function rateLimitHeaders(verdict: RateLimitVerdict): Record<string, string> {
  return {
    'RateLimit-Policy': `"${verdict.bucket}";q=${verdict.quota};w=${verdict.windowSeconds}`,
    RateLimit: `"${verdict.bucket}";r=${verdict.remaining};t=${verdict.resetSeconds}`,
  };
}

function describe(bucket: string): string {
  return bucket === 'org' ? 'organization' : bucket === 'ip' || bucket === 'address' ? 'client address' : bucket;
}
