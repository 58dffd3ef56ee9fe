// Connections and the two ways to run queries: as the calling user (Row Level Security decides, exactly as
// Supabase's PostgREST does it) or as the service role (only where the caller says why).
import postgres, { type Sql, type TransactionSql } from 'postgres';

export type Db = Sql;
export type Tx = TransactionSql;

export function connect(url: string, options: { max?: number } = {}): Db {
  return postgres(url, {
    max: options.max ?? 10,
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => undefined,
    connection: { TimeZone: 'UTC' },
    // Supabase's pooler (transaction mode) cannot keep prepared statements across transactions.
    prepare: !/pooler\.supabase\.com|:6543\//.test(url),
  });
}

/** A round trip to the database (health checks). */
export async function ping(db: Db): Promise<void> {
  await db`select 1`;
}

/** The claims a request runs under: a user's token claims, or the server-made claims of an API key. */
export interface Claims {
  sub?: string;
  role: 'authenticated';
  email?: string;
  api_key_id?: string;
  organization_id?: string;
  [claim: string]: unknown;
}

/** Runs `work` in one transaction as `authenticated` with the caller's claims: RLS applies to every query. */
export function withUser<T>(db: Db, claims: Claims, work: (tx: Tx) => Promise<T>): Promise<T> {
  return db.begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
    return work(tx);
  }) as Promise<T>;
}

/**
 * Runs `work` in one transaction as `service_role`, which bypasses RLS. `reason` is required so that every
 * use says why in code (webhooks, the task worker, resolving an API key before there is a caller).
 */
export function withService<T>(db: Db, reason: string, work: (tx: Tx) => Promise<T>): Promise<T> {
  if (!reason.trim()) throw new Error('withService needs a reason');
  return db.begin(async (tx) => {
    await tx`select set_config('role', 'service_role', true)`;
    return work(tx);
  }) as Promise<T>;
}

/**
 * Runs `work` as the service role inside a transaction that runs as a user, then returns to the user's
 * role: for writes the user may not make directly but that must commit or roll back with the user's own
 * (a grant of credits with a new organization). `reason` says why, as with withService().
 */
export async function asServiceRoleWithin<T>(tx: Tx, reason: string, work: () => Promise<T>): Promise<T> {
  if (!reason.trim()) throw new Error('asServiceRoleWithin needs a reason');
  await tx`select set_config('role', 'service_role', true)`;
  try {
    return await work();
  } finally {
    await tx`select set_config('role', 'authenticated', true)`;
  }
}
