// Idempotency-Key on the operations whose contract declares it: the first successful response is kept and
// replayed, byte for byte with its status and headers, to a retry of the same request (services/idempotency).
import type { Db } from '../db/client.js';
import type { RequestContext } from '../kernel/context.js';
import { runIdempotently } from '../services/idempotency.js';
import type { Operation } from './contract.js';
import type { Outcome } from './responses.js';
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
    async () => {
      fresh = await call();
      const text = fresh.text ?? (fresh.body === undefined ? '' : JSON.stringify(fresh.body));
      fresh.text = text;
      return { status: fresh.status, headers: fresh.headers ?? {}, text };
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
