// Rate limits kept in Postgres: a burst past a budget meets 429 with Retry-After and the RateLimit headers,
// two instances of the API on one database spend one budget, and each kind of caller is counted in its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userRequestsPerMinute } from '../../src/services/rate-limits.js';
import { takeRateLimit } from '../../src/db/queries/rate-limits.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { signUp, startTestServer, type TestServer } from '../support/server.js';

let database: TestDatabase;
let first: TestServer;
let second: TestServer;
let unlimited: TestServer;

beforeAll(async () => {
  database = await createTestDatabase();
  first = await startTestServer({ db: database.db, rateLimits: true });
  second = await startTestServer({ db: database.db, rateLimits: true });
  unlimited = await startTestServer({ db: database.db });
});
afterAll(async () => {
  await Promise.all([first.close(), second.close(), unlimited.close()]);
  await database.drop();
});

/** Sends `count` requests, `parallel` at a time, alternating between the servers; answers each response in order. */
async function burst(count: number, servers: TestServer[], path: string, headers: Record<string, string>, parallel = 8) {
  const responses: { status: number; url: string; headers: Headers; text: string }[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const n = next++;
        const response = await fetch(`${servers[n % servers.length]!.baseUrl}${path}`, { headers });
        responses[n] = { status: response.status, url: response.url, headers: response.headers, text: await response.text() };
      }
    }),
  );
  return responses;
}

describe('a burst past a budget', () => {
  it("meets 429 with Retry-After and RateLimit headers, and two instances spend one user's budget", async () => {
    const user = await signUp(database.db, 'burst@example.com');
    const headers = { Authorization: `Bearer ${user.token}` };
    const firstAnswer = await fetch(`${first.baseUrl}/v1/me`, { headers });
    expect(firstAnswer.status).toBe(200);
    expect(firstAnswer.headers.get('ratelimit-policy')).toBe(`"user";q=${userRequestsPerMinute};w=60`);
    expect(firstAnswer.headers.get('ratelimit')).toBe(`"user";r=${userRequestsPerMinute - 1};t=1`);

    // Twice the budget, alternating between the instances: one shared budget lets through about one quota
    // (plus what refills during the burst, 10 a second); two separate budgets would let through all of it.
    const responses = await burst(2 * userRequestsPerMinute, [first, second], '/v1/me', headers);
    const passed = responses.filter((r) => r.status === 200).length;
    const refused = responses.filter((r) => r.status === 429);
    expect(passed).toBeGreaterThanOrEqual(userRequestsPerMinute - 1);
    expect(passed).toBeLessThan(userRequestsPerMinute + 200);
    expect(refused.length + passed).toBe(responses.length);
    expect(refused.some((r) => r.url.startsWith(first.baseUrl))).toBe(true);
    expect(refused.some((r) => r.url.startsWith(second.baseUrl))).toBe(true);

    // A refused answer of the burst itself (a request sent after it could find a budget refilled meanwhile).
    const limited = refused[refused.length - 1]!;
    expect(limited.status).toBe(429);
    const body = JSON.parse(limited.text) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited.headers.get('ratelimit-policy')).toBe(`"user";q=${userRequestsPerMinute};w=60`);
    expect(limited.headers.get('ratelimit')).toMatch(/^"user";r=0;t=\d+$/);
    expect(limited.headers.get('cache-control')).toBe('no-store');

    // Another user's budget is whole; and without rate limits nothing is counted or announced.
    const other = await signUp(database.db, 'calm@example.com');
    expect((await fetch(`${first.baseUrl}/v1/me`, { headers: { Authorization: `Bearer ${other.token}` } })).status).toBe(200);
    const free = await fetch(`${unlimited.baseUrl}/v1/me`, { headers });
    expect(free.status).toBe(200);
    expect(free.headers.get('ratelimit')).toBeNull();
  });
});

describe('budgets by caller', () => {
  it("counts an API key in its organization's budget, sized by the plan", async () => {
    const owner = await signUp(database.db, 'keys@example.com');
    const client = first.client({ accessToken: owner.token });
    const org = (await client.POST('/v1/organizations', { body: { name: 'Limited' } })).data!.data;
    const key = (await client.POST('/v1/organizations/{orgId}/api-keys', { params: { path: { orgId: org.id } }, body: { name: 'ci' } }))
      .data!.data;
    const viaKey = await fetch(`${first.baseUrl}/v1/organizations/${org.id}`, { headers: { 'X-Api-Key': key.secret } });
    expect(viaKey.status).toBe(200);
    // The free plan's figure, as the catalog states it.
    const plans = (await (await fetch(`${first.baseUrl}/v1/plans`)).json()) as {
      data: { id: string; limits: { requestsPerMinute: number } }[];
    };
    const free = plans.data.find((p) => p.id === 'free')!.limits.requestsPerMinute;
    expect(viaKey.headers.get('ratelimit-policy')).toBe(`"org";q=${free};w=60`);
  });

  it('counts requests without credentials that do work by client address, and leaves the catalog alone', async () => {
    const webhook = await fetch(`${first.baseUrl}/v1/webhooks/stripe`, {
      method: 'POST',
      body: '{}',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(webhook.headers.get('ratelimit-policy')).toMatch(/^"ip";q=\d+;w=60$/);
    expect((await fetch(`${first.baseUrl}/v1/plans`)).headers.get('ratelimit')).toBeNull();
  });
});

describe('the count', () => {
  it('commits without waiting for the WAL flush, in its own transaction only', async () => {
    const { db } = database;
    const [settings] = await db.begin(async (tx) => {
      await takeRateLimit(tx as never, [{ key: 'user:async-commit', quota: 10, windowSeconds: 60 }], undefined);
      return tx<{ during: string }[]>`select current_setting('synchronous_commit') as during`;
    });
    expect(settings!.during).toBe('off');
    // A transaction that did not count keeps the durable default.
    const [after] = await db<{ setting: string }[]>`select current_setting('synchronous_commit') as setting`;
    expect(after!.setting).toBe('on');
  });
});
