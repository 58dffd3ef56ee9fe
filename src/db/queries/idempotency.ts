import type { Tx } from '../client.js';

/**
 * What a key holds: nothing yet (it is now the caller's, under `token` until its lease ends), a request still
 * running, or a kept response.
 */
export type IdempotencyRecord =
  | { state: 'claimed'; token: string }
  | { state: 'running'; operation: string; requestHash: string }
  | { state: 'done'; operation: string; requestHash: string; response: Buffer };

interface Row {
  token: string | null;
  operation: string | null;
  requestHash: string | null;
  state: 'running' | 'done' | null;
  response: Buffer | null;
}

/**
 * Claims a key for a request for `leaseSeconds` (a new key, a kept response whose day has passed, or a claim
 * whose lease ended: its request died), or answers what it holds. Each statement commits on its own, as the
 * schema's owner, around the request's transaction (db/client.ts withOwner).
 */
export async function claimIdempotencyKey(
  tx: Tx,
  keyHash: string,
  operation: string,
  requestHash: string,
  leaseSeconds: number,
): Promise<IdempotencyRecord> {
  const [row] = await tx<Row[]>`
    with claimed as (
      insert into staffroom.idempotency_keys as k (key_hash, operation, request_hash, state, expires_at)
      values (${keyHash}, ${operation}, ${requestHash}, 'running', now() + make_interval(secs => ${leaseSeconds}))
      on conflict (key_hash) do update set operation = excluded.operation, request_hash = excluded.request_hash,
        state = 'running', response = null, created_at = now(), expires_at = excluded.expires_at
        where k.expires_at < now()
      returning k.created_at::text as token)
    select (select token from claimed) as token, k.operation, k.request_hash as "requestHash", k.state, k.response
    from (select 1) as one left join staffroom.idempotency_keys k on k.key_hash = ${keyHash}`;
  // The claim's own time is its token: a request whose lease ended cannot complete or free a later claim.
  if (row?.token) return { state: 'claimed', token: row.token };
  // A request that claimed the key while this statement waited is not in its snapshot: read it anew.
  const record = row?.state ? row : await readIdempotencyKey(tx, keyHash);
  if (!record?.state) return claimIdempotencyKey(tx, keyHash, operation, requestHash, leaseSeconds);
  return toRecord(record);
}

async function readIdempotencyKey(tx: Tx, keyHash: string): Promise<Row | undefined> {
  const [row] = await tx<Row[]>`
    select null::text as token, operation, request_hash as "requestHash", state, response
    from staffroom.idempotency_keys where key_hash = ${keyHash} and expires_at > now()`;
  return row;
}

function toRecord(row: Row): IdempotencyRecord {
  if (row.state === 'done') return { state: 'done', operation: row.operation!, requestHash: row.requestHash!, response: row.response! };
  return { state: 'running', operation: row.operation!, requestHash: row.requestHash! };
}

// A token is compared as text made timestamptz by the server: the driver would send a timestamptz parameter in
// milliseconds, and the claim's time has microseconds.

/** Keeps the response of the request that claimed the key, for `ttlSeconds`; false when its claim was lost. */
export async function completeIdempotencyKey(
  tx: Tx,
  keyHash: string,
  token: string,
  response: Buffer,
  ttlSeconds: number,
): Promise<boolean> {
  const rows = await tx`
    update staffroom.idempotency_keys set state = 'done', response = ${response}, expires_at = now() + make_interval(secs => ${ttlSeconds})
    where key_hash = ${keyHash} and state = 'running' and created_at = ${token}::text::timestamptz`;
  return rows.count === 1;
}

/**
 * completeIdempotencyKey in the caller's own transaction, just before it commits: the table is the owner's, so
 * the statement runs as the pool's role (SET LOCAL ROLE NONE), then the caller's role is restored. Only the
 * server's code runs in this transaction; the Data API's connections never hold the owner's role.
 */
export async function completeIdempotencyKeyInTransaction(
  tx: Tx,
  keyHash: string,
  token: string,
  response: Buffer,
  ttlSeconds: number,
): Promise<boolean> {
  const [{ role } = { role: 'none' }] = await tx<
    { role: string }[]
  >`select current_setting('role') as role, set_config('role', 'none', true)`;
  const held = await completeIdempotencyKey(tx, keyHash, token, response, ttlSeconds);
  await tx`select set_config('role', ${role}, true)`;
  return held;
}

/** Frees the key of a request that failed (and so did nothing): a retry may use it again. */
export async function releaseIdempotencyKey(tx: Tx, keyHash: string, token: string): Promise<void> {
  await tx`delete from staffroom.idempotency_keys where key_hash = ${keyHash} and state = 'running' and created_at = ${token}::text::timestamptz`;
}

/** Forgets up to `limit` kept responses whose day has passed and claims whose lease ended; how many. */
export async function sweepIdempotencyKeys(tx: Tx, limit: number): Promise<number> {
  const gone = await tx`
    delete from staffroom.idempotency_keys where ctid in (
      select ctid from staffroom.idempotency_keys where expires_at < now() limit ${limit})`;
  return gone.count;
}
