// Rate limits as the HTTP layer applies them: which operations count, and the headers of the verdict
// (draft-ietf-httpapi-ratelimit-headers, with Retry-After when the request is refused).
import { ApiError } from '../kernel/errors.js';
import type { RequestContext } from '../kernel/context.js';
import type { Db } from '../db/client.js';
import { checkRateLimit, type RateLimitVerdict } from '../services/rate-limits.js';
import type { Operation } from './contract.js';
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
  if (!verdict.allowed) {
    const wait = verdict.retryAfterSeconds ?? 1;
    throw new ApiError(
      'RATE_LIMITED',
      `Too many requests for this ${describe(verdict.bucket)}; retry in ${wait} second${wait === 1 ? '' : 's'}.`,
      undefined,
      {
        headers: { ...headers, 'Retry-After': String(wait) },
      },
    );
  }
  return headers;
}

function rateLimitHeaders(verdict: RateLimitVerdict): Record<string, string> {
  return {
    'RateLimit-Policy': `"${verdict.bucket}";q=${verdict.quota};w=${verdict.windowSeconds}`,
    RateLimit: `"${verdict.bucket}";r=${verdict.remaining};t=${verdict.resetSeconds}`,
  };
}

function describe(bucket: string): string {
  return bucket === 'org' ? 'organization' : bucket === 'ip' ? 'client address' : bucket;
}
