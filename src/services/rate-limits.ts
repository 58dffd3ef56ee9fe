// Who may make how many requests: every budget is kept in Postgres, so it holds across every instance.
import { withTimeLimit } from '../time-limit.js';
import type { Db } from '../db/client.js';
import { takeRateLimit, type RateLimitBucket, type RateLimitVerdict } from '../db/queries/rate-limits.js';
import { DatabaseUnavailableError } from '../kernel/errors.js';
import type { Caller } from '../kernel/caller.js';

export type { RateLimitVerdict };

/** A signed-in user's own budget, whatever organization they act in (the free plan's figure). */
export const userRequestsPerMinute = 600;
/** A client address's budget on operations without credentials that do work (the Stripe webhook). */
const addressRequestsPerMinute = 600;

/** What a request is counted against: its caller, the organization it acts in, or its client address. */
export interface RateLimitSubject {
  caller: Caller | undefined;
  /** The organization of the request's path, when it names one. */
  organizationId: string | undefined;
  clientAddress: string | undefined;
}

/**
 * Counts the request and answers the budget closest to being spent, or undefined when nothing limits it (no
 * caller and no address). An organization's budget comes from its plan, read in the same statement.
 */
export function checkRateLimit(db: Db, subject: RateLimitSubject, waitMs: number): Promise<RateLimitVerdict | undefined> {
  const buckets: RateLimitBucket[] = [];
  const { caller } = subject;
  let organizationId = subject.organizationId;
  if (caller?.kind === 'user') buckets.push({ key: `user:${caller.userId}`, quota: userRequestsPerMinute, windowSeconds: 60 });
  // An API key acts only in its own organization: the organization's budget is the key's.
  else if (caller?.kind === 'api_key') organizationId = caller.organizationId;
  else if (subject.clientAddress) buckets.push({ key: `ip:${subject.clientAddress}`, quota: addressRequestsPerMinute, windowSeconds: 60 });
  if (buckets.length === 0 && !organizationId) return Promise.resolve(undefined);
  return withTimeLimit(
    takeRateLimit(db, buckets, organizationId),
    waitMs,
    () => new DatabaseUnavailableError(`no rate-limit answer within ${waitMs} ms`),
  );
}
