// Who may make how many requests: every budget is kept in Postgres, so it holds across every instance.
import { isIPv6 } from 'node:net';
import type { Db } from '../db/client.js';
import { withTimeLimit } from '../time-limit.js';
import { DatabaseUnavailableError } from '../kernel/errors.js';
import { takeRateLimit, type RateLimitBucket, type RateLimitVerdict } from '../db/queries/rate-limits.js';
import type { Caller } from '../kernel/caller.js';

export type { RateLimitVerdict };

/** A signed-in user's own budget, whatever organization they act in (the free plan's figure). */
export const userRequestsPerMinute = 600;
/** A client address's budget on operations without credentials that do work (the Stripe webhook). */
const addressRequestsPerMinute = 600;
/** A client address's budget for signed-in requests outside an organization, shared by every account it signs in. */
export const addressRequestsOutsideOrganizationsPerMinute = 1_200;
/** Failed authentications a client address may make a minute; past that its requests are refused unchecked. */
export const failedAuthenticationsPerMinute = 60;

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
  if (caller?.kind === 'user') {
    buckets.push({ key: `user:${caller.userId}`, quota: userRequestsPerMinute, windowSeconds: 60 });
    // No organization's budget applies here, so without the address's one N accounts would have N budgets.
    if (!organizationId && subject.clientAddress)
      buckets.push({
        key: `address:${addressKey(subject.clientAddress)}`,
        quota: addressRequestsOutsideOrganizationsPerMinute,
        windowSeconds: 60,
      });
  }
  // An API key acts only in its own organization: the organization's budget is the key's.
  else if (caller?.kind === 'api_key') organizationId = caller.organizationId;
  else if (subject.clientAddress)
    buckets.push({ key: `ip:${addressKey(subject.clientAddress)}`, quota: addressRequestsPerMinute, windowSeconds: 60 });
  if (buckets.length === 0 && !organizationId) return Promise.resolve(undefined);
  return count(db, (sql) => takeRateLimit(sql, buckets, organizationId), waitMs);
}

/** Counts a failed authentication from a client address, in the `failed-auth` budget; answers its verdict. */
export function countFailedAuthentication(db: Db, clientAddress: string, waitMs: number): Promise<RateLimitVerdict | undefined> {
  const bucket = { key: `failed-auth:${addressKey(clientAddress)}`, quota: failedAuthenticationsPerMinute, windowSeconds: 60 };
  return count(db, (sql) => takeRateLimit(sql, [bucket], undefined), waitMs);
}

/**
 * A count within `waitMs`: one statement that commits on its own, so that a bucket's row lock is never held
 * across a round trip. Its waits are a request transaction's: the connection within `waitMs`, and a lock within
 * take_rate_limit's own lock_timeout (1.5 s); past either, 503.
 */
async function count(
  db: Db,
  take: (db: Db) => Promise<RateLimitVerdict | undefined>,
  waitMs: number,
): Promise<RateLimitVerdict | undefined> {
  try {
    return await withTimeLimit(take(db), waitMs, () => new DatabaseUnavailableError(`no rate-limit answer within ${waitMs} ms`));
  } catch (error) {
    // lock_not_available: the table stayed locked past the wait; for this request, the database is unavailable.
    if ((error as { code?: unknown } | null)?.code === '55P03')
      throw new DatabaseUnavailableError('rate limits: a lock was not granted in time', { cause: error });
    throw error;
  }
}

/**
 * A client address as its budgets know it: IPv4 as it is (also when IPv4-mapped), IPv6 by its /64, the
 * block one subscriber gets, so that a client cannot have a fresh budget per address of its own block.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  const bare = address.split('%')[0]!;
  if (!isIPv6(bare)) return address;
  const [head = '', tail] = bare.toLowerCase().split('::');
  const groups = head === '' ? [] : head.split(':');
  if (tail !== undefined) {
    const rest = tail === '' ? [] : tail.split(':');
    // A trailing dotted IPv4 stands for two groups.
    const restGroups = rest.length + (rest.at(-1)?.includes('.') ? 1 : 0);
    groups.push(...Array<string>(8 - groups.length - restGroups).fill('0'), ...rest);
  }
  return `${groups
    .slice(0, 4)
    .map((group) => parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}
