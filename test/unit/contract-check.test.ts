// The test harness's contract check must catch what it is there to catch.
import { describe, expect, it } from 'vitest';
import { contractProblems } from '../support/contract.js';

const json = new Headers({ 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'req_1' });
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
    expect(contractProblems('/v1/health', 'GET', 200, new Headers({ 'content-type': 'text/plain', 'x-request-id': 'r' }), 'ok')[0]).toMatch(
      /text\/plain is not declared/,
    );
  });

  it('checks error envelopes from shared responses', () => {
    const envelope = { success: false, error: { code: 'NOT_A_CODE', message: 'x', requestId: 'r' } };
    expect(contractProblems('/v1/models', 'GET', 400, json, envelope).join()).toMatch(/code/);
  });
});
