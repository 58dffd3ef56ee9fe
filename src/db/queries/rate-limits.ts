import type { Db, Tx } from '../client.js';

/** A budget: requests per window, under a key such as `user:<id>`. */
export interface RateLimitBucket {
  key: string;
  quota: number;
  windowSeconds: number;
}

/** The budget with the least room left after a request was counted (or refused). */
export interface RateLimitVerdict {
  allowed: boolean;
  /** The budget's name: the key's prefix (`user`, `org`, `ip`). */
  bucket: string;
  quota: number;
  windowSeconds: number;
  remaining: number;
  resetSeconds: number;
  retryAfterSeconds: number | null;
}

/**
 * Counts one request against the buckets and, when an organization is named, against its plan's budget, in
 * one statement that commits on its own: a request's work never holds a bucket's lock, and a request that fails
 * afterwards still counts. Runs as the schema's owner (no role is granted the function or the table). The
 * statement's transaction commits without waiting for the WAL flush (`synchronous_commit` off until its end), so
 * counting does not make every read a durable write: a crash of Postgres may forget the last few hundred
 * milliseconds of counts, which a rate limit can afford.
 */
export async function takeRateLimit(
  tx: Db | Tx,
  buckets: RateLimitBucket[],
  orgId: string | undefined,
): Promise<RateLimitVerdict | undefined> {
  const [row] = await tx<RateLimitVerdict[]>`
    select allowed, bucket, quota, window_seconds as "windowSeconds", remaining, reset_seconds as "resetSeconds",
           retry_after_seconds as "retryAfterSeconds"
    from staffroom.take_rate_limit(${buckets.map((b) => b.key)}::text[], ${buckets.map((b) => b.quota)}::integer[],
                                   ${buckets.map((b) => b.windowSeconds)}::integer[], ${orgId ?? null}::uuid)
    cross join lateral (select set_config('synchronous_commit', 'off', true)) as async_commit`;
  return row;
}

/** Forgets up to `limit` buckets idle for a day (a bucket whose arrival time is a day old is full again); how many. */
export async function sweepRateLimits(tx: Tx, limit: number): Promise<number> {
  const gone = await tx`
    delete from staffroom.rate_limits where ctid in (
      select ctid from staffroom.rate_limits where tat < now() - interval '1 day' limit ${limit})`;
  return gone.count;
}
