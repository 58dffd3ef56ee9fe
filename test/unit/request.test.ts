// Reading the parts of a request: the query string, the request id and a text body's length.
import { describe, expect, it } from 'vitest';
import type { Operation } from '../../src/http/contract.js';
import { checkBody, clientRequestIdOf, newRequestId, parseQuery, requestIdOf } from '../../src/http/request.js';
import { ApiError } from '../../src/kernel/errors.js';

const request = (headers: Record<string, string>) => ({ method: 'GET', path: '/', query: '', headers, body: undefined });

describe('parseQuery', () => {
  it('decodes names and values, spaces written as +, and keeps a repeated name as a list', () => {
    expect(parseQuery('')).toEqual({});
    expect(parseQuery('q=caf%C3%A9+bar&flag&limit=5&&limit=6')).toEqual({ q: 'café bar', flag: '', limit: ['5', '6'] });
    expect(parseQuery('a%5Bb%5D=1&x=a=b')).toEqual({ 'a[b]': '1', x: 'a=b' });
  });

  it('refuses text that is not percent-encoded UTF-8 with a 400 naming the query', () => {
    for (const query of ['q=%E0%A4%A', 'q=%ZZ', '%C3=1']) {
      let thrown: unknown;
      try {
        parseQuery(query);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, query).toBeInstanceOf(ApiError);
      expect(thrown).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'query', message: 'is not valid percent-encoding' }] });
    }
  });
});

describe('requestIdOf', () => {
  it('keeps a sensible X-Request-Id and makes a new, distinct one otherwise', () => {
    expect(requestIdOf(request({ 'x-request-id': 'client-42.a_b' }))).toBe('client-42.a_b');
    const made = [requestIdOf(request({})), requestIdOf(request({ 'x-request-id': 'not ok!' })), requestIdOf(request({}))];
    for (const id of made) expect(id).toMatch(/^req_[0-9a-f]{32}$/);
    expect(new Set(made).size).toBe(3);
  });

  it("tells a client's id from one of ours: only ours reach the database", () => {
    const shapedLikeOurs = `req_${'0'.repeat(32)}`;
    expect(clientRequestIdOf(request({ 'x-request-id': shapedLikeOurs }))).toBe(shapedLikeOurs);
    expect(clientRequestIdOf(request({ 'x-request-id': 'not ok!' }))).toBeUndefined();
    expect(clientRequestIdOf(request({}))).toBeUndefined();
    expect(newRequestId()).toMatch(/^req_[0-9a-f]{32}$/);
    expect(newRequestId()).not.toBe(newRequestId());
  });
});

describe('checkBody', () => {
  it("refuses a text body longer than its media type's maxLength, counting characters as JSON Schema does", () => {
    const operation = {
      requestBody: { content: { 'text/markdown': { schema: { type: 'string', maxLength: 3 } } } },
    } as unknown as Operation;
    const text = (value: string) => ({ json: false as const, value, mediaType: 'text/markdown' });
    expect(() => checkBody(operation, text('😀😀😀'))).not.toThrow(); // 6 UTF-16 units, 3 characters
    const error = (() => {
      try {
        checkBody(operation, text('abcd'));
      } catch (thrown) {
        return thrown;
      }
    })();
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).details).toEqual([{ field: 'body', message: 'must NOT have more than 3 characters' }]);
  });
});
