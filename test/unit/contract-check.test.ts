// The test harness's contract check must catch what it is there to catch.
import { describe, expect, it } from 'vitest';
import { contractProblems } from '../support/contract.js';

const json = new Headers({ 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'req_1', 'cache-control': 'no-store' });
const health = {
  success: true,
  data: { status: 'ok', version: '1.0.0', time: '2026-11-25T09:30:00.000Z', database: { status: 'ok', latencyMs: 1 } },
};

describe('contractProblems', () => {
  it('accepts a conforming response', () => {
    expect(contractProblems('/v1/health', 'GET', 200, json, health)).toEqual([]);
  });

  it('rejects a wrong field type, a missing field and a bad enum value', () => {
    const bad = { success: true, data: { ...health.data, status: 'fine', version: 1, time: undefined } };
    const problems = contractProblems('/v1/health', 'GET', 200, json, JSON.parse(JSON.stringify(bad)));
    expect(problems.join('\n')).toMatch(/status/);
    expect(problems.join('\n')).toMatch(/version/);
    expect(problems.join('\n')).toMatch(/time/);
  });

  it('rejects an undeclared status, a missing X-Request-Id and an undeclared content type', () => {
    expect(contractProblems('/v1/health', 'GET', 418, json, health)[0]).toMatch(/does not declare status 418/);
    expect(contractProblems('/v1/health', 'GET', 200, new Headers({ 'content-type': 'application/json' }), health)).toContain(
      'X-Request-Id header is missing',
    );
    const plain = new Headers({ 'content-type': 'text/plain', 'x-request-id': 'r', 'cache-control': 'no-store' });
    expect(contractProblems('/v1/health', 'GET', 200, plain, 'ok')[0]).toMatch(/text\/plain is not declared/);
  });

  it('holds headers to the response both ways: none undeclared, none required missing, values as declared', () => {
    const sent = (extra: Record<string, string>) => new Headers([...json, ...Object.entries(extra)]);
    // Transport and browser-hardening headers need no declaration; CORS headers are declared (optional).
    expect(
      contractProblems(
        '/v1/health',
        'GET',
        200,
        sent({ date: 'x', vary: 'Origin', 'x-content-type-options': 'nosniff', 'access-control-allow-origin': '*' }),
        health,
      ),
    ).toEqual([]);
    // Health is not rate limited: it declares no RateLimit, so sending one is a violation.
    expect(contractProblems('/v1/health', 'GET', 200, sent({ ratelimit: '"user";r=1;t=1' }), health)).toEqual([
      'header ratelimit is not declared for 200',
    ]);
    expect(
      contractProblems('/v1/health', 'GET', 200, new Headers({ 'content-type': 'application/json', 'x-request-id': 'r' }), health),
    ).toEqual(['Cache-Control header is missing']);
    const envelope = { success: false, error: { code: 'RATE_LIMITED', message: 'x', requestId: 'r' } };
    expect(contractProblems('/v1/me', 'GET', 429, sent({ 'retry-after': '2', ratelimit: '"user";r=0;t=2' }), envelope)).toEqual([]);
    expect(contractProblems('/v1/me', 'GET', 429, sent({ 'retry-after': 'soon' }), envelope).join()).toMatch(/Retry-After/);
  });

  it('checks error envelopes from shared responses', () => {
    const envelope = { success: false, error: { code: 'NOT_A_CODE', message: 'x', requestId: 'r' } };
    expect(contractProblems('/v1/models', 'GET', 400, json, envelope).join()).toMatch(/code/);
  });
});
