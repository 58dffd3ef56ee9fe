// Which codes each operation answers lives in the contract: every error response narrows `error.code` to the
// codes it can carry. The lists must be real codes at the right status, must include what the core answers for
// any operation of that kind, and are enforced: a code an operation does not declare fails the response check
// exactly as an undeclared status does.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { errorCodesOf } from '../../scripts/contract-diff.js';
import { handlers } from '../../src/handlers/index.js';
import { createApp, type AppOptions } from '../../src/http/app.js';
import { contract, operationsOf } from '../../src/http/contract.js';
import type { HttpRequest } from '../../src/http/types.js';
import { ApiError, errorStatus, type ErrorCode } from '../../src/kernel/errors.js';

type Json = Record<string, unknown>;
const doc = contract as unknown as Json & { paths: Record<string, Record<string, Json>> };
const methods = ['get', 'put', 'post', 'patch', 'delete'];

/** Every operation of the API (not the webhooks it sends), with its declared codes per error status. */
const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  methods
    .filter((method) => item[method])
    .map((method) => {
      const operation = item[method] as Json & { operationId: string; responses: Record<string, unknown> };
      const parameters = [...((item.parameters as Json[] | undefined) ?? []), ...((operation.parameters as Json[] | undefined) ?? [])].map(
        (parameter) =>
          String(parameter.$ref ?? parameter.name)
            .split('/')
            .pop(),
      );
      const codes = new Map<string, string[] | undefined>(
        Object.entries(operation.responses)
          .filter(([status]) => /^[45]/.test(status))
          .map(([status, response]) => [status, errorCodesOf(doc, response)]),
      );
      return {
        id: operation.operationId,
        method,
        path,
        codes,
        secured:
          ((operation.security ?? doc.security) as unknown[]).length > 0 && (operation.security as unknown[] | undefined)?.length !== 0,
        body: operation.requestBody !== undefined,
        parameters,
      };
    }),
);

describe('the codes each operation declares', () => {
  it('are listed on every error response, each a code of the catalogue answered with that status', () => {
    const problems: string[] = [];
    for (const operation of operations) {
      for (const [status, codes] of operation.codes) {
        if (!codes?.length) problems.push(`${operation.id} ${status}: lists no codes`);
        for (const code of codes ?? []) {
          if (!(code in errorStatus)) problems.push(`${operation.id} ${status}: ${code} is not an ErrorCode`);
          else if (String(errorStatus[code as ErrorCode]) !== status)
            problems.push(`${operation.id} ${status}: ${code} answers ${errorStatus[code as ErrorCode]}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('include the codes the core answers for any operation of its kind', () => {
    const missing: string[] = [];
    const expectCodes = (operation: (typeof operations)[number], status: string, codes: ErrorCode[], why: string) => {
      const declared = operation.codes.get(status) ?? [];
      for (const code of codes) if (!declared.includes(code)) missing.push(`${operation.id} ${status} ${code} (${why})`);
    };
    for (const operation of operations) {
      expectCodes(operation, '500', ['INTERNAL'], 'anything unexpected');
      expectCodes(operation, '400', ['VALIDATION_ERROR'], 'an undeclared query parameter is refused');
      if (operation.secured) {
        expectCodes(operation, '401', ['UNAUTHENTICATED', 'TOKEN_EXPIRED', 'TOKEN_INVALID', 'API_KEY_INVALID'], 'credentials');
        expectCodes(operation, '429', ['RATE_LIMITED'], 'the failed-authentication budget');
        expectCodes(operation, '503', ['UNAVAILABLE'], 'the database or the deadline');
      }
      if (operation.body) {
        expectCodes(operation, '408', ['REQUEST_TIMEOUT'], 'a body that does not come in time');
        expectCodes(operation, '413', ['PAYLOAD_TOO_LARGE'], 'a body too large');
        expectCodes(operation, '415', ['UNSUPPORTED_MEDIA_TYPE'], 'a body of another media type');
      }
      if (operation.path.includes('{orgId}')) expectCodes(operation, '404', ['NOT_FOUND'], 'an organization the caller is not in');
      if (operation.parameters.includes('IdempotencyKey')) expectCodes(operation, '409', ['IDEMPOTENCY_CONFLICT'], 'Idempotency-Key');
      if (operation.parameters.includes('IfMatch')) expectCodes(operation, '412', ['PRECONDITION_FAILED'], 'If-Match');
      // Every write that reaches the database can lose a serialization race or a deadlock.
      if (operation.method !== 'get' && operation.codes.has('503'))
        expectCodes(operation, '409', ['CONCURRENT_UPDATE'], 'a write that reaches the database');
    }
    expect(missing).toEqual([]);
  });
});

describe('the response check', () => {
  const userId = '0f8fad5b-d9cb-469f-a165-70867728950e';
  /** An app whose getCurrentUser throws `error`, checking every response against the contract as tests do. */
  const appThrowing = (error: ApiError, lines: string[] = []) =>
    createApp({
      deps: {
        version: '1.0.0',
        verifyAccessToken: async () => ({ userId, email: 'a@example.com', name: null, claims: { sub: userId, exp: 2_000_000_000 } }),
      },
      log: pino({ level: 'error' }, { write: (line: string) => void lines.push(line) }),
      validateResponses: true,
      maxBodyBytes: 1024,
      handlers: {
        ...(handlers as unknown as NonNullable<AppOptions['handlers']>),
        getCurrentUser: async () => {
          throw error;
        },
      },
    });
  const me: HttpRequest = { method: 'GET', path: '/v1/me', query: '', headers: { authorization: 'Bearer a.b.c' }, body: undefined };

  it('passes a code the operation declares', async () => {
    const response = await (await appThrowing(new ApiError('FORBIDDEN', 'No.'))).handle(me);
    expect([response.status, JSON.parse(response.body).error.code]).toEqual([403, 'FORBIDDEN']);
  });

  it('fails a code the operation does not declare at a status it declares, as it fails an undeclared status', async () => {
    const getCurrentUser = operationsOf(contract).find((operation) => operation.operationId === 'getCurrentUser')!;
    expect(getCurrentUser.responses['403']).toBeDefined();
    expect(getCurrentUser.responses['409']).toBeUndefined();
    for (const error of [new ApiError('INVITATION_EMAIL_MISMATCH', 'Not yours.'), new ApiError('LAST_OWNER', 'Keep one.')]) {
      const lines: string[] = [];
      const response = await (await appThrowing(error, lines)).handle(me);
      expect(response.status, error.code).toBe(500);
      expect(lines.join(''), error.code).toContain('response violates the contract');
      expect(JSON.parse(response.body).error).toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('getCurrentUser') });
    }
    // The log names the codes the operation declares at that status.
    const lines: string[] = [];
    await (await appThrowing(new ApiError('INVITATION_EMAIL_MISMATCH', 'Not yours.'), lines)).handle(me);
    expect(lines.join('')).toContain('/error/code must be equal to one of the allowed values (FORBIDDEN)');
  });
});
