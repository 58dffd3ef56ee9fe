// The one mapping from database failures to the error envelope: the functions' hints, and every way the
// database can be out of reach.
import { describe, expect, it } from 'vitest';
import { DatabaseUnavailableError } from '../../src/db/client.js';
import { ApiError } from '../../src/kernel/errors.js';
import { fromDatabaseError } from '../../src/db/errors.js';

describe('fromDatabaseError', () => {
  it('turns a function failure into its code, message and details', () => {
    const error = fromDatabaseError({
      code: 'P0001',
      hint: 'staffroom:PAYMENT_REQUIRED',
      message: 'This task needs up to 9 credits; 3 are available.',
      detail: '[{"field": "credits", "message": "available 3, needed 9"}]',
    });
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: 'PAYMENT_REQUIRED', status: 402, message: 'This task needs up to 9 credits; 3 are available.' });
    expect(error?.details).toEqual([{ field: 'credits', message: 'available 3, needed 9' }]);
  });

  it.each([
    new DatabaseUnavailableError('no database connection within 1500 ms'),
    { code: 'ECONNREFUSED' },
    { code: 'CONNECT_TIMEOUT' },
    { code: '08006' },
    { code: '57P01' },
    { code: '53300' },
    { code: '57014' },
  ])('reads %o as 503 with Retry-After', (failure) => {
    expect(fromDatabaseError(failure)).toMatchObject({ code: 'UNAVAILABLE', status: 503, headers: { 'Retry-After': '2' } });
  });

  it('leaves everything else to the caller', () => {
    for (const other of [
      { code: 'P0001', hint: 'last_owner', message: 'x' },
      { code: 'P0001', hint: 'staffroom:NO_SUCH_CODE', message: 'x' },
      { code: '23505', constraint_name: 'organizations_slug_live_key' },
      new Error('boom'),
      null,
    ]) {
      expect(fromDatabaseError(other), JSON.stringify(other)).toBeUndefined();
    }
  });
});
