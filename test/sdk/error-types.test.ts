// Error codes typed per operation: `attempt` gives a call's error with exactly the codes its operation declares,
// so a switch over them is exhaustive and a code the operation never answers does not compile (`npx tsc -p .`
// checks the `@ts-expect-error` lines), and at run time it carries the code the service sent.
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  attempt,
  createStaffroomClient,
  StaffroomError,
  unwrap,
  type ErrorCode,
  type ErrorCodeOf,
  type OperationError,
} from '../../sdk/index.js';

const orgId = '3f1c9a52-7d2e-4b8a-9c41-2f6d8e0b7a13';
const employeeId = '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f';

/** A client whose every answer is `status` with an error envelope carrying `code`. */
function answering(status: number, code: string) {
  return createStaffroomClient({
    baseUrl: 'http://staffroom.test',
    accessToken: 'token',
    retries: 0,
    fetch: async () =>
      new Response(JSON.stringify({ success: false, error: { code, message: 'no', requestId: 'req_1' } }), {
        status,
        headers: { 'content-type': 'application/json' },
      }),
  });
}

/** What an app does with createTask's failures: every code handled, nothing else allowed. */
function explainCreateTask(error: OperationError<'createTask'>): string {
  switch (error.code) {
    case 'VALIDATION_ERROR':
      return 'fix the input';
    case 'UNAUTHENTICATED':
    case 'TOKEN_EXPIRED':
    case 'TOKEN_INVALID':
    case 'API_KEY_INVALID':
      return 'sign in again';
    case 'PAYMENT_REQUIRED':
      return 'buy credits';
    case 'NOT_FOUND':
      return 'no such employee';
    case 'REQUEST_TIMEOUT':
    case 'RATE_LIMITED':
    case 'TASK_LIMIT_REACHED':
    case 'CONCURRENT_UPDATE':
    case 'UNAVAILABLE':
      return 'retry later';
    case 'MODEL_RETIRED':
    case 'MODEL_UNAVAILABLE':
      return 'pick another model';
    case 'TASK_NOT_FINISHED':
      return 'wait for the previous task';
    case 'IDEMPOTENCY_CONFLICT':
      return 'use a new key';
    case 'PAYLOAD_TOO_LARGE':
    case 'UNSUPPORTED_MEDIA_TYPE':
    case 'INTERNAL':
      return 'report it';
    default: {
      // Exhaustive: every code createTask declares is handled above (a new one would not compile here). What
      // reaches this branch at run time is an answer that was not the service's (a proxy's page): go by status.
      const exhaustive: never = error.code;
      return `${error.status >= 500 ? 'retry later' : 'report it'} (${String(exhaustive)})`;
    }
  }
}

describe('error codes typed per operation', () => {
  it('types each operation with exactly the codes its contract declares', () => {
    expectTypeOf<'LAST_OWNER'>().toExtend<ErrorCodeOf<'updateMember'>>();
    expectTypeOf<'TASK_LIMIT_REACHED' | 'PAYMENT_REQUIRED' | 'MODEL_RETIRED'>().toExtend<ErrorCodeOf<'createTask'>>();
    expectTypeOf<ErrorCodeOf<'createTask'>>().toExtend<ErrorCode>();
    // @ts-expect-error createTask never answers LAST_OWNER
    expectTypeOf<'LAST_OWNER'>().toExtend<ErrorCodeOf<'createTask'>>();
    // @ts-expect-error getHealth is public: no credentials to refuse
    expectTypeOf<'UNAUTHENTICATED'>().toExtend<ErrorCodeOf<'getHealth'>>();
    const check = (error: OperationError<'createTask'>) => {
      // @ts-expect-error a code createTask never answers does not compile
      if (error.code === 'LAST_OWNER') return true;
      // @ts-expect-error nor does a typo
      if (error.code === 'PAYMENT_REQUIRD') return true;
      return error.code === 'PAYMENT_REQUIRED';
    };
    expect(typeof check).toBe('function');
  });

  it("gives a call's error typed by its operation, with the code the service sent", async () => {
    const client = answering(402, 'PAYMENT_REQUIRED');
    const { data, error } = await attempt(
      client.POST('/v1/organizations/{orgId}/tasks', { params: { path: { orgId } }, body: { employeeId, input: 'Review this.' } }),
    );
    expect(data).toBeUndefined();
    expect(error).toBeInstanceOf(StaffroomError);
    expectTypeOf(error!.code).toEqualTypeOf<ErrorCodeOf<'createTask'>>();
    expect(explainCreateTask(error!)).toBe('buy credits');
    expect([error!.status, error!.requestId]).toEqual([402, 'req_1']);

    const members = answering(409, 'LAST_OWNER');
    const removed = await attempt(
      members.DELETE('/v1/organizations/{orgId}/members/{userId}', { params: { path: { orgId, userId: employeeId } } }),
    );
    expect(removed.error?.code === 'LAST_OWNER').toBe(true);
  });

  it('gives the data of a success, and keeps unwrap (untyped codes) as it was', async () => {
    const client = createStaffroomClient({
      baseUrl: 'http://staffroom.test',
      retries: 0,
      fetch: async () =>
        new Response(JSON.stringify({ success: true, data: { status: 'ok' } }), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        }),
    });
    const { data, error } = await attempt(client.GET('/v1/health'));
    expect(error).toBeUndefined();
    expect(data).toMatchObject({ status: 'ok' });

    const thrown = await unwrap(answering(409, 'SOME_NEWER_CODE').GET('/v1/me')).catch((caught: unknown) => caught);
    expect(thrown).toBeInstanceOf(StaffroomError);
    // Unnarrowed, a code may be one a newer service added to the catalogue: compared as a string, handled by status.
    expectTypeOf((thrown as StaffroomError).code).toEqualTypeOf<ErrorCode | (string & {})>();
    expect((thrown as StaffroomError).code).toBe('SOME_NEWER_CODE');
  });

  it('throws what is not an answer (a network failure), as unwrap does', async () => {
    const client = createStaffroomClient({
      baseUrl: 'http://staffroom.test',
      retries: 0,
      fetch: async () => {
        throw new TypeError('fetch failed');
      },
    });
    await expect(attempt(client.GET('/v1/health'))).rejects.toThrow();
  });
});
