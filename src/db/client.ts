// Connections and the two ways to run queries: as the calling user (Row Level Security decides, exactly as
// Supabase's PostgREST does it) or as the service role (only where the caller says why).
import postgres, { type Sql, type TransactionSql } from 'postgres';
import { withTimeLimit } from '../time-limit.js';
import { needsUnpreparedStatements } from './urls.js';
import { ApiError, DatabaseUnavailableError } from '../kernel/errors.js';
import type { Claims } from '../kernel/caller.js';

export { DatabaseUnavailableError };

export type Db = Sql;
export type Tx = TransactionSql;

export function connect(url: string, options: { max?: number } = {}): Db {
  return postgres(url, {
    max: options.max ?? 10,
    idle_timeout: 30,
    connect_timeout: 2,
    onnotice: () => undefined,
    connection: { TimeZone: 'UTC' },
    // A pooler in transaction mode (Supabase's, or one the URL names with ?prepare=false) cannot keep prepared
    // statements across transactions.
    prepare: !needsUnpreparedStatements(url),
  });
}

/** A round trip to the database (health checks), given up on after acquireTimeoutMs. */
export async function ping(db: Db): Promise<void> {
  await withTimeLimit(
    db`select 1`.then(() => undefined),
    acquireTimeoutMs,
    () => new DatabaseUnavailableError(`no answer within ${acquireTimeoutMs} ms`),
  );
}

/** Limits of one transaction: a request's deadline, past which it rolls back rather than commit late. */
export interface TxLimits {
  /** Epoch milliseconds. */
  deadline?: number;
  /** Run SERIALIZABLE: a concurrent change to what the transaction read makes one of them fail (40001). */
  serializable?: boolean;
  /** The claims are an API key's: refuse (401) unless the key is live at the transaction's start. */
  requireLiveKey?: boolean;
  /** The server's id of the request (`req_…`), which audit events record; never a client's X-Request-Id. */
  requestId?: string;
}

/** How long a transaction may wait for a connection before the caller is told the database is unavailable. */
const acquireTimeoutMs = 1_500;
/** How many transactions of one pool may wait for a connection at once. */
export const maxWaiting = 200;
const waitingFor = new WeakMap<Db, number>();
/** The longest one statement may run (a runaway query must not hold a connection for ever). */
export const statementTimeoutMs = 5_000;

/**
 * One transaction with bounded waits. It gives up (DatabaseUnavailableError) when no connection is had within
 * acquireTimeoutMs, or when the deadline passes before it commits; a transaction given up on rolls back
 * whenever it gets to run, so a request answered 503 never commits afterwards. Once COMMIT is on its way,
 * its outcome is awaited instead.
 */
function transaction<T>(db: Db, setup: (tx: Tx) => Promise<unknown>, work: (tx: Tx) => Promise<T>, limits: TxLimits): Promise<T> {
  // The queue for connections is bounded too: past it, an outage answers at once instead of piling up work.
  const waiting = waitingFor.get(db) ?? 0;
  if (waiting >= maxWaiting) return Promise.reject(new DatabaseUnavailableError(`${waiting} transactions already wait for a connection`));
  waitingFor.set(db, waiting + 1);
  let counted = true;
  const stopWaiting = () => {
    if (counted) waitingFor.set(db, (waitingFor.get(db) ?? 1) - 1);
    counted = false;
  };
  // An object, not a local: the timers below change it while the transaction's callback awaits.
  const progress: { state: 'waiting' | 'running' | 'committing' | 'abandoned' } = { state: 'waiting' };
  const givenUp = () => progress.state === 'abandoned';
  const abandoned = () => new DatabaseUnavailableError('the transaction was given up on before it could commit');
  const inTransaction = async (tx: Tx): Promise<T> => {
    stopWaiting();
    if (givenUp()) throw abandoned();
    progress.state = 'running';
    await setup(tx);
    const result = await work(tx);
    if (givenUp() || (limits.deadline !== undefined && Date.now() > limits.deadline)) throw abandoned();
    progress.state = 'committing';
    return result;
  };
  const running = (limits.serializable ? db.begin('isolation level serializable', inTransaction) : db.begin(inTransaction)) as Promise<T>;
  return new Promise<T>((resolve, reject) => {
    const giveUp = (reason: string, when: readonly string[]) => () => {
      if (!when.includes(progress.state)) return;
      progress.state = 'abandoned';
      reject(new DatabaseUnavailableError(reason));
    };
    const acquire = setTimeout(giveUp(`no database connection within ${acquireTimeoutMs} ms`, ['waiting']), acquireTimeoutMs);
    const deadline =
      limits.deadline === undefined
        ? undefined
        : setTimeout(giveUp('the request deadline passed', ['waiting', 'running']), Math.max(0, limits.deadline - Date.now()));
    running.then(resolve, reject).finally(() => {
      stopWaiting();
      clearTimeout(acquire);
      clearTimeout(deadline);
    });
  });
}

/** Runs `work` in one transaction as `authenticated` with the caller's claims: RLS applies to every query. */
export function withUser<T>(db: Db, claims: Claims, work: (tx: Tx) => Promise<T>, limits: TxLimits = {}): Promise<T> {
  // Set beside the claims, where the Data API cannot reach: a function's arguments never name the request.
  const requestId = limits.requestId ?? '';
  const setup = limits.requireLiveKey
    ? // An API key may have been revoked since this instance resolved it: the same statement says whether it is
      // still live, so a revoked key is refused at once at no extra round trip.
      async (tx: Tx) => {
        const [row] = await tx<{ live: boolean }[]>`
          select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${JSON.stringify(claims)}, true),
                 set_config('staffroom.request_id', ${requestId}, true), set_config('statement_timeout', ${String(statementTimeoutMs)}, true),
                 staffroom.caller_key() is not null as live`;
        if (!row?.live) throw new ApiError('API_KEY_INVALID', 'The API key is not valid: unknown, revoked or expired.');
      }
    : (tx: Tx) => tx`
    select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${JSON.stringify(claims)}, true),
           set_config('staffroom.request_id', ${requestId}, true), set_config('statement_timeout', ${String(statementTimeoutMs)}, true)`;
  return transaction(db, setup, work, limits);
}

/**
 * Runs `work` in one transaction as `service_role`, which bypasses RLS. `reason` is required so that every
 * use says why in code (webhooks, the task worker, resolving an API key before there is a caller).
 */
export function withService<T>(db: Db, reason: string, work: (tx: Tx) => Promise<T>, limits: TxLimits = {}): Promise<T> {
  if (!reason.trim()) throw new Error('withService needs a reason');
  const setup = (tx: Tx) => tx`
    select set_config('role', 'service_role', true), set_config('statement_timeout', ${String(statementTimeoutMs)}, true)`;
  return transaction(db, setup, work, limits);
}

/**
 * Runs `work` in one transaction as the pool's own role, the schema's owner: the server's bookkeeping around a
 * request (idempotency keys, rate limits), which no API role may touch. It has the connection wait, statement
 * timeout and deadline of a request's transaction, and waits for a lock no longer than for a connection, so a
 * locked table (a migration, a stuck transaction) answers 503 in time instead of holding the request.
 */
export function withOwner<T>(db: Db, reason: string, work: (tx: Tx) => Promise<T>, limits: TxLimits = {}): Promise<T> {
  if (!reason.trim()) throw new Error('withOwner needs a reason');
  // Sent with the work, not before it: one round trip fewer on the path of every rate-limited request.
  const bounded = async (tx: Tx): Promise<T> => {
    // execute(): queued now, ahead of the work's first statement (queries are otherwise sent when awaited).
    const limited = tx`
      select set_config('statement_timeout', ${String(statementTimeoutMs)}, true), set_config('lock_timeout', ${String(acquireTimeoutMs)}, true)`.execute();
    const [, result] = await Promise.all([limited, work(tx)]);
    return result;
  };
  return transaction(db, () => Promise.resolve(), bounded, limits).catch((error: unknown) => {
    // lock_not_available: the table stayed locked past the wait; the database is, for this request, unavailable.
    if ((error as { code?: unknown } | null)?.code === '55P03')
      throw new DatabaseUnavailableError(`${reason}: a lock was not granted within ${acquireTimeoutMs} ms`, { cause: error });
    throw error;
  });
}
