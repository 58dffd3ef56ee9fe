// Idempotent requests (Stripe's semantics): a caller's Idempotency-Key makes a retried request replay the first
// successful response instead of acting again. The key is stored only as a hash, and the response encrypted
// under a key derived from it, so the database alone can neither find a client's key nor read what it replays.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { DatabaseUnavailableError, withOwner, type Db, type Tx } from '../db/client.js';
import * as queries from '../db/queries/idempotency.js';
import { ApiError } from '../kernel/errors.js';
import type { KeptResponse } from '../kernel/context.js';

export type { KeptResponse };

/** How long a kept response is replayed. */
const idempotencyTtlSeconds = 24 * 60 * 60;
/**
 * How long past its request's deadline a claim outlives it: a request never commits past its deadline (a
 * COMMIT already sent excepted), then has settleMs to keep its response. A key whose request died (its
 * instance killed) is reclaimed once this has passed, not a day later.
 */
const leaseMarginSeconds = 5;
/** How long keeping or freeing a key may take past the request's deadline (the response is already decided). */
const settleMs = 2_000;
/** How long a request waits for another one with its key to finish before it gives up with a 409. */
const waitForRunningMs = 5_000;
const pollMs = 100;

/** Keeps a response in the caller's transaction, the one that makes the resource the response is about. */
export type KeepInTransaction = (tx: Tx, response: KeptResponse) => Promise<void>;

export interface IdempotentRequest {
  /** Whose key it is: `user:<id>` or `key:<id>`. */
  scope: string;
  key: string;
  operation: string;
  /** The request's identity: method, path, query and body bytes. */
  fingerprint: string;
  /** Epoch milliseconds past which the request no longer waits. */
  deadline: number;
  log: Logger;
}

/**
 * Runs `work` once per key: a first request runs it and keeps its response when it succeeded (2xx); a retry
 * with the same request gets that response back (`replayed`); another request with the key gets 409.
 *
 * Where the operation makes its resource in one transaction, `work` keeps the response in that transaction
 * with `keep` (the resource and its key's response then commit together, or neither does: no crash between
 * them can make a retry act again). Otherwise the response is kept just after `work`, under the key's lease.
 */
export async function runIdempotently(
  db: Db,
  request: IdempotentRequest,
  work: (keep: KeepInTransaction) => Promise<KeptResponse>,
): Promise<{ response: KeptResponse; replayed: boolean }> {
  const keyHash = sha256(`${request.scope}\n${request.key}`);
  const requestHash = sha256(request.fingerprint);
  const giveUpAt = Math.min(Date.now() + waitForRunningMs, request.deadline);
  let token: string;
  for (;;) {
    const leaseSeconds = Math.ceil(Math.max(0, request.deadline - Date.now()) / 1000) + leaseMarginSeconds;
    const record = await withOwner(
      db,
      "idempotency keys are the server's bookkeeping",
      (tx) => queries.claimIdempotencyKey(tx, keyHash, request.operation, requestHash, leaseSeconds),
      { deadline: request.deadline },
    );
    if (record.state === 'claimed') {
      token = record.token;
      break;
    }
    if (record.operation !== request.operation || record.requestHash !== requestHash) throw keyReused();
    if (record.state === 'done') return { response: decrypt(record.response, request), replayed: true };
    if (Date.now() + pollMs > giveUpAt) {
      throw new ApiError('IDEMPOTENCY_CONFLICT', 'A request with this Idempotency-Key is still running; retry it shortly.', [
        { field: 'header.Idempotency-Key', message: 'in use by a request still running' },
      ]);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  // Past the deadline the answer is decided; keeping or freeing the key still gets a moment, within the lease.
  const settle = () => ({ deadline: Math.max(request.deadline, Date.now() + settleMs) });
  const release = () =>
    withOwner(db, 'freeing an idempotency key', (tx) => queries.releaseIdempotencyKey(tx, keyHash, token), settle()).catch(
      (error: unknown) => request.log.warn({ err: error }, 'an idempotency key was not freed; it is reclaimable when its lease ends'),
    );
  let keptInTransaction = false;
  const keep: KeepInTransaction = async (tx, kept) => {
    if (kept.status < 200 || kept.status >= 300) return;
    const held = await queries.completeIdempotencyKeyInTransaction(tx, keyHash, token, encrypt(kept, request), idempotencyTtlSeconds);
    // The lease outlives the request's deadline, past which no transaction commits: a lost claim means this
    // transaction must not commit either, or the key's next request would make the resource again.
    if (!held) throw new DatabaseUnavailableError("the Idempotency-Key's lease ended before its resource was made");
    keptInTransaction = true;
  };
  let response: KeptResponse;
  try {
    response = await work(keep);
  } catch (error) {
    // A transaction that kept the response and then committed holds the key as done: freeing it leaves that be.
    await release();
    throw error;
  }
  if (keptInTransaction) return { response, replayed: false };
  if (response.status >= 200 && response.status < 300) {
    const kept = encrypt(response, request);
    // The work is done and its answer stands: a key not kept only means a retry after the lease runs it again.
    const held = await withOwner(
      db,
      'keeping an idempotent response',
      (tx) => queries.completeIdempotencyKey(tx, keyHash, token, kept, idempotencyTtlSeconds),
      settle(),
    ).catch((completeError: unknown) => {
      request.log.error({ err: completeError }, 'an idempotent response was not kept; a retry after the lease acts again');
      return true;
    });
    if (!held) request.log.error("an idempotency key's lease ended before its response was kept; a retry acts again");
  } else {
    await release();
  }
  return { response, replayed: false };
}

function keyReused(): ApiError {
  return new ApiError('IDEMPOTENCY_CONFLICT', 'This Idempotency-Key was used with a different request.', [
    { field: 'header.Idempotency-Key', message: 'already used with another request' },
  ]);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The response's key: derived from the client's Idempotency-Key, which the database never sees. */
function responseKey(request: IdempotentRequest): Buffer {
  return createHash('sha256').update(`staffroom idempotent response\n${request.scope}\n${request.key}`).digest();
}

function encrypt(response: KeptResponse, request: IdempotentRequest): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', responseKey(request), iv);
  const sealed = Buffer.concat([cipher.update(JSON.stringify(response), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]);
}

function decrypt(kept: Buffer, request: IdempotentRequest): KeptResponse {
  const decipher = createDecipheriv('aes-256-gcm', responseKey(request), kept.subarray(0, 12));
  decipher.setAuthTag(kept.subarray(12, 28));
  return JSON.parse(Buffer.concat([decipher.update(kept.subarray(28)), decipher.final()]).toString('utf8')) as KeptResponse;
}
