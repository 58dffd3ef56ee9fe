// Generated stubs: what `npm run gen` writes for an operation of the contract that has no handler yet. The
// core answers a stub's operation with the contract's own example for its success response (openapi-backend's
// mockResponseForOperation) and marks the response with the `Staffroom-Stub` header, so that a frontend team can
// call a new operation the day it is added to the contract. `npm test` fails while a stub is left.
import type { Handler, OperationId } from './types.js';

const stubOf = Symbol('staffroom.stub');

/** The header that marks a response answered by a stub. */
export const stubHeader = 'Staffroom-Stub';

/** A handler that stands for one not written yet; the core answers its operation with the contract's example. */
export function stub<K extends OperationId>(operationId: K): Handler<K> {
  const handler = () => Promise.reject(new Error(`${operationId} is a stub: the core answers it with the contract's example.`));
  return Object.assign(handler, { [stubOf]: operationId }) as unknown as Handler<K>;
}

/** The operationId a stub stands for, or undefined for a real handler. */
export function stubbedOperation(handler: unknown): string | undefined {
  return typeof handler === 'function' ? ((handler as { [stubOf]?: string })[stubOf] ?? undefined) : undefined;
}
