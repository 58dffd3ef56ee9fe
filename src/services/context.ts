// Running a service's queries as the caller.
import { withUser, type Db, type Tx } from '../db/client.js';
import { ifMatchHolds, representationTag } from '../kernel/etag.js';
import { ApiError, type ErrorCode } from '../kernel/errors.js';
import type { RequestContext } from '../kernel/context.js';
import type { Caller } from '../kernel/caller.js';
import { syncProfile } from '../db/queries/organizations.js';

export function database(ctx: RequestContext): Db {
  if (!ctx.deps.db) throw new ApiError('UNAVAILABLE', 'The database is not configured.');
  return ctx.deps.db;
}

function callerOf(ctx: RequestContext): Caller {
  if (!ctx.caller) throw new ApiError('UNAUTHENTICATED', 'Send a bearer token in Authorization or an API key in X-Api-Key.');
  return ctx.caller;
}

/** A signed-in user; API keys act for an organization and cannot do this. */
export function userOf(ctx: RequestContext): Extract<Caller, { kind: 'user' }> {
  const caller = callerOf(ctx);
  if (caller.kind !== 'user') throw new ApiError('FORBIDDEN', 'API keys cannot do this; sign in as a user.');
  return caller;
}

/** Runs in a transaction just before it commits, with what the transaction made (http/idempotency.ts keptWith). */
export type BeforeCommit<T> = (tx: Tx, result: T) => Promise<void>;

/**
 * One transaction as the caller: every query in `work` runs under Row Level Security. `beforeCommit` runs last
 * in it, with `work`'s result: what must commit with the result or not at all (an idempotent response).
 */
export function asCaller<T>(
  ctx: RequestContext,
  work: (tx: Tx) => Promise<T>,
  options: { serializable?: boolean; beforeCommit?: BeforeCommit<T> } = {},
): Promise<T> {
  const caller = callerOf(ctx);
  const { beforeCommit } = options;
  const run = beforeCommit
    ? async (tx: Tx) => {
        const result = await work(tx);
        await beforeCommit(tx, result);
        return result;
      }
    : work;
  return withUser(database(ctx), caller.claims, run, {
    deadline: ctx.deadline,
    serializable: options.serializable,
    // Keys are resolved from a cache (services/api-keys.ts): each transaction confirms the key is still live.
    requireLiveKey: caller.kind === 'api_key',
    requestId: ctx.serverRequestId,
  });
}

/**
 * A conditional change (If-Match): the resource as the caller sees it now must still be the one the client
 * read. Run in a serializable transaction, so a change that lands between this check and the write makes
 * one of them fail (409 CONCURRENT_UPDATE) instead of being overwritten.
 */
export function checkIfMatch(ifMatch: string | undefined, current: unknown): void {
  if (ifMatch === undefined || ifMatchHolds(ifMatch, representationTag(current))) return;
  throw new ApiError('PRECONDITION_FAILED', 'The resource changed since you read it: read it again (its new ETag), then retry.', [
    { field: 'header.If-Match', message: 'is not the current ETag' },
  ]);
}

/** A Postgres unique violation of `constraint` becomes `code` (a 409) naming the field; anything else is rethrown. */
export function conflictOn(error: unknown, constraint: string, code: ErrorCode, field: string, message: string): never {
  if (
    (error as { code?: string; constraint_name?: string }).code === '23505' &&
    (error as { constraint_name?: string }).constraint_name === constraint
  ) {
    throw new ApiError(code, message, [{ field, message: 'already in use' }]);
  }
  throw error;
}

/** Profiles come from the token's claims; a token whose user does not exist (deleted since) is refused. */
export async function ensureProfile(tx: Tx, user: { name: string | null }): Promise<void> {
  await syncProfile(tx, user.name).catch((error: unknown) => {
    if ((error as { code?: string }).code === '23503') throw new ApiError('TOKEN_INVALID', 'The access token belongs to no known user.');
    throw error;
  });
}
