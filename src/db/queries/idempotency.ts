import type { Db } from '../client.js';

/** What a key holds: nothing yet (it is now the caller's), a request still running, or a kept response. */
export type IdempotencyRecord =
  | { state: 'claimed' }
  | { state: 'running'; operation: string; requestHash: string }
  | { state: 'done'; operation: string; requestHash: string; response: Buffer };

interface Row {
  claimed: boolean | null;
  operation: string | null;
  requestHash: string | null;
  state: 'running' | 'done' | null;
  response: Buffer | null;
}

/**
 * Claims a key for a request (a new key, or one whose day has passed), or answers what it holds. These
 * statements commit on their own, as the schema's owner, around the request's transaction.
 */
export async function claimIdempotencyKey(
  db: Db,
  keyHash: string,
  operation: string,
  requestHash: string,
  ttlSeconds: number,
): Promise<IdempotencyRecord> {
  const [row] = await db<Row[]>`
    with claimed as (
      insert into staffroom.idempotency_keys as k (key_hash, operation, request_hash, state, expires_at)
      values (${keyHash}, ${operation}, ${requestHash}, 'running', now() + make_interval(secs => ${ttlSeconds}))
      on conflict (key_hash) do update set operation = excluded.operation, request_hash = excluded.request_hash,
        state = 'running', response = null, created_at = now(), expires_at = excluded.expires_at
        where k.expires_at < now()
      returning true as claimed)
    select (select claimed from claimed) as claimed, k.operation, k.request_hash as "requestHash", k.state, k.response
    from (select 1) as one left join staffroom.idempotency_keys k on k.key_hash = ${keyHash}`;
  if (row?.claimed) return { state: 'claimed' };
  // A request that claimed the key while this statement waited is not in its snapshot: read it anew.
  const record = row?.state ? row : await readIdempotencyKey(db, keyHash);
  if (!record?.state) return claimIdempotencyKey(db, keyHash, operation, requestHash, ttlSeconds);
  return toRecord(record);
}

async function readIdempotencyKey(db: Db, keyHash: string): Promise<Row | undefined> {
  const [row] = await db<Row[]>`
    select null::boolean as claimed, operation, request_hash as "requestHash", state, response
    from staffroom.idempotency_keys where key_hash = ${keyHash} and expires_at > now()`;
  return row;
}

function toRecord(row: Row): IdempotencyRecord {
  if (row.state === 'done') return { state: 'done', operation: row.operation!, requestHash: row.requestHash!, response: row.response! };
  return { state: 'running', operation: row.operation!, requestHash: row.requestHash! };
}

/** Keeps the response of the request that claimed the key. */
export async function completeIdempotencyKey(db: Db, keyHash: string, response: Buffer): Promise<void> {
  await db`update staffroom.idempotency_keys set state = 'done', response = ${response} where key_hash = ${keyHash} and state = 'running'`;
}

/** Frees the key of a request that failed (and so did nothing): a retry may use it again. */
export async function releaseIdempotencyKey(db: Db, keyHash: string): Promise<void> {
  await db`delete from staffroom.idempotency_keys where key_hash = ${keyHash} and state = 'running'`;
}

/** Forgets keys whose day has passed. */
export async function sweepIdempotencyKeys(db: Db): Promise<void> {
  await db`delete from staffroom.idempotency_keys where expires_at < now()`;
}
