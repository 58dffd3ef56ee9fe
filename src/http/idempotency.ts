// Idempotency-Key on the operations whose contract declares it: the first successful response is kept and
// replayed, byte for byte with its status and headers, to a retry of the same request (services/idempotency).
import type { Db, Tx } from '../db/client.js';
import type { KeptResponse, RequestContext } from '../kernel/context.js';
import { runIdempotently } from '../services/idempotency.js';
import type { Operation } from './contract.js';
import { success, type HandlerOutput, type Outcome } from './responses.js';
import type { HttpRequest } from './types.js';

/** Whether the operation takes an Idempotency-Key (its contract declares the header). */
export function takesIdempotencyKey(operation: Operation): boolean {
  return operation.parameters.some((parameter) => parameter.in === 'header' && parameter.name === 'Idempotency-Key');
}

/** Runs `call` once per caller and key; a replay carries `Idempotent-Replayed: true`. */
export async function idempotentOutcome(
  db: Db,
  operation: Operation,
  http: HttpRequest,
  ctx: RequestContext,
  key: string,
  call: () => Promise<Outcome>,
): Promise<Outcome> {
  const caller = ctx.caller!;
  let fresh: Outcome | undefined;
  const { response, replayed } = await runIdempotently(
    db,
    {
      scope: caller.kind === 'user' ? `user:${caller.userId}` : `key:${caller.keyId}`,
      key,
      operation: operation.operationId,
      // The same request: the same operation on the same path and query, with the same bytes of body.
      fingerprint: `${http.method} ${http.path}?${http.query}\n${http.body?.toString('latin1') ?? ''}`,
      deadline: ctx.deadline,
      log: ctx.log,
    },
    async (keep) => {
      ctx.keepResponse = keep;
      try {
        fresh = await call();
      } finally {
        ctx.keepResponse = undefined;
      }
      return kept(fresh);
    },
  );
  if (!replayed && fresh) return fresh;
  return {
    status: response.status,
    body: response.text === '' ? undefined : (JSON.parse(response.text) as unknown),
    text: response.text === '' ? undefined : response.text,
    headers: { ...response.headers, 'Idempotent-Replayed': 'true' },
  };
}

/** A response as it is kept; `outcome.text` is set to the bytes kept, so that the first answer is those bytes too. */
function kept(outcome: Outcome): KeptResponse {
  const text = outcome.text ?? (outcome.body === undefined ? '' : JSON.stringify(outcome.body));
  outcome.text = text;
  return { status: outcome.status, headers: outcome.headers ?? {}, text };
}

/**
 * For a handler whose service makes its resource in one transaction: keeps the response `respond` makes of the
 * transaction's result in that transaction, when the request carries an Idempotency-Key (else undefined). The
 * handler answers `respond` of the same result, so the kept bytes are the answer's.
 */
export function keptWith<T>(
  ctx: RequestContext,
  respond: (result: T) => HandlerOutput,
): ((tx: Tx, result: T) => Promise<void>) | undefined {
  const keep = ctx.keepResponse;
  return keep && ((tx, result) => keep(tx, kept(success(respond(result)))));
}
