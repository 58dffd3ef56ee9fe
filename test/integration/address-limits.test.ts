// Budgets by client address: failed authentications are counted per address and, past their budget, the
// address is refused before any key is looked up or token verified (also on an instance that learns it from
// the database); signed-in requests outside an organization share their address's budget, whatever account
// sends them; other addresses are unaffected.
import { Agent, request } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { mintAccessToken } from '../../src/services/identity.js';
import {
  addressKey,
  addressRequestsOutsideOrganizationsPerMinute,
  failedAuthenticationsPerMinute,
  userRequestsPerMinute,
} from '../../src/services/rate-limits.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { signUp, startTestServer, type TestServer, type TestUser } from '../support/server.js';

// How often the server looked an API key up in the database, and verified an access token.
const counted = vi.hoisted(() => ({ keyLookups: 0, tokenChecks: 0 }));

vi.mock('../../src/db/queries/api-keys.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/db/queries/api-keys.js')>();
  return {
    ...actual,
    findKeyForAuthentication: (...args: Parameters<typeof actual.findKeyForAuthentication>) => {
      counted.keyLookups++;
      return actual.findKeyForAuthentication(...args);
    },
  };
});

vi.mock('../../src/services/identity.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/services/identity.js')>();
  return {
    ...actual,
    createTokenVerifier: (...args: Parameters<typeof actual.createTokenVerifier>) => {
      const verify = actual.createTokenVerifier(...args);
      return (token: string) => {
        counted.tokenChecks++;
        return verify(token);
      };
    },
  };
});

let database: TestDatabase;
let first: TestServer;
let second: TestServer;
let owner: TestUser;
let orgId: string;
let goodKey: string;

beforeAll(async () => {
  database = await createTestDatabase();
  first = await startTestServer({ db: database.db, rateLimits: true });
  second = await startTestServer({ db: database.db, rateLimits: true });
  owner = await signUp(database.db, 'address-owner@example.com');
  const client = first.client({ accessToken: owner.token });
  orgId = (await client.POST('/v1/organizations', { body: { name: 'Addresses' } })).data!.data.id;
  goodKey = (await client.POST('/v1/organizations/{orgId}/api-keys', { params: { path: { orgId } }, body: { name: 'good' } })).data!.data
    .secret;
});
afterAll(async () => {
  for (const agent of agents.values()) agent.destroy();
  await Promise.all([first.close(), second.close()]);
  await database.drop();
});
afterEach(() => {
  vi.useRealTimers();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: { code: string; message: string } };
}

/** Connections kept alive per client address. */
const agents = new Map<string, Agent>();

/** A GET sent from `address` (any of 127.0.0.0/8 reaches the loopback server), as the server sees its client. */
function get(server: TestServer, address: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const url = new URL(path, server.baseUrl);
  let agent = agents.get(address);
  if (!agent) agents.set(address, (agent = new Agent({ keepAlive: true, localAddress: address })));
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(text) as Answer['body'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends `count` GETs from `address`, `parallel` at a time; `headers(n)` gives the n-th request's headers. */
async function burst(
  server: TestServer,
  address: string,
  path: string,
  count: number,
  headers: (n: number) => Record<string, string>,
  parallel = 8,
): Promise<Answer[]> {
  const answers: Answer[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const n = next++;
        answers[n] = await get(server, address, path, headers(n));
      }
    }),
  );
  return answers;
}

const statuses = (answers: Answer[]) => answers.map((a) => a.status);
const badKey = () => `sk_live_${crypto.randomUUID().replaceAll('-', '')}abcdefgh`;

/** What a refusal of a spent failure budget looks like. */
function expectFailureBudgetSpent(answer: Answer) {
  expect(answer.status).toBe(429);
  expect(answer.body.error?.code).toBe('RATE_LIMITED');
  expect(answer.body.error?.message).toContain('failed authentications');
  expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(answer.headers['ratelimit-policy']).toBe(`"failed-auth";q=${failedAuthenticationsPerMinute};w=60`);
  expect(answer.headers['ratelimit']).toMatch(/^"failed-auth";r=0;t=\d+$/);
}

describe('failed authentications by client address', () => {
  it('refuse a burst of unknown API keys past the budget, then look no key up, on either instance', async () => {
    // An instance keeps the verdict until the budget has room again (a second at 60 a minute): the clock
    // stands still here so that the check below cannot race it.
    vi.setSystemTime(new Date());
    const path = `/v1/organizations/${orgId}`;
    const answers = await burst(first, '127.0.0.2', path, 100, () => ({ 'X-Api-Key': badKey() }));
    const refused = answers.filter((a) => a.status === 429);
    const failed = answers.filter((a) => a.status === 401);
    expect(failed.length + refused.length).toBe(answers.length);
    // The budget, plus what refills (one a second) while the burst runs.
    expect(failed.length).toBeGreaterThanOrEqual(failedAuthenticationsPerMinute);
    expect(failed.length).toBeLessThan(failedAuthenticationsPerMinute + 15);
    expect(failed.every((a) => a.body.error?.code === 'API_KEY_INVALID')).toBe(true);
    expectFailureBudgetSpent(answers.at(-1)!);

    // Spent: more bad keys, and a good one, are refused without a lookup.
    const lookups = counted.keyLookups;
    const more = await burst(first, '127.0.0.2', path, 40, () => ({ 'X-Api-Key': badKey() }));
    expect(statuses(more)).toEqual(Array(40).fill(429));
    expectFailureBudgetSpent((await get(first, '127.0.0.2', path, { 'X-Api-Key': goodKey }))!);
    expect(counted.keyLookups).toBe(lookups);

    // Another instance learns it from the database, a lookup for each failure until it is refused (one, unless
    // the budget refilled meanwhile: the database's clock runs), and then looks nothing up either.
    let learning = 0;
    for (let refusedThere = false; !refusedThere; learning++) {
      refusedThere = (await get(second, '127.0.0.2', path, { 'X-Api-Key': badKey() })).status === 429;
    }
    expect(learning).toBeLessThanOrEqual(5);
    expect(counted.keyLookups).toBe(lookups + learning);
    const elsewhere = await burst(second, '127.0.0.2', path, 20, () => ({ 'X-Api-Key': badKey() }));
    expect(statuses(elsewhere)).toEqual(Array(20).fill(429));
    expectFailureBudgetSpent(elsewhere.at(-1)!);
    expect(counted.keyLookups).toBe(lookups + learning);

    // Another address is unaffected, with a key or a token.
    const good = await get(first, '127.0.0.3', path, { 'X-Api-Key': goodKey });
    expect(good.status).toBe(200);
    expect(good.headers['ratelimit-policy']).toMatch(/^"org";/);
    expect((await get(second, '127.0.0.3', path, { Authorization: `Bearer ${owner.token}` })).status).toBe(200);
  });

  it('refuse a burst of badly signed tokens past the budget, then verify none', async () => {
    vi.setSystemTime(new Date());
    const forged = await mintAccessToken({
      secret: 'another-secret-that-this-service-does-not-know-0123',
      userId: owner.id,
      email: owner.email,
    });
    const answers = await burst(first, '127.0.0.6', '/v1/me', 90, () => ({ Authorization: `Bearer ${forged}` }));
    const failed = answers.filter((a) => a.status === 401);
    expect(failed.length).toBeGreaterThanOrEqual(failedAuthenticationsPerMinute);
    expect(failed.length).toBeLessThan(failedAuthenticationsPerMinute + 15);
    expect(failed.every((a) => a.body.error?.code === 'TOKEN_INVALID')).toBe(true);
    expect(answers.filter((a) => a.status === 429).length + failed.length).toBe(answers.length);
    expectFailureBudgetSpent(answers.at(-1)!);

    const checks = counted.tokenChecks;
    const more = await burst(first, '127.0.0.6', '/v1/me', 30, () => ({ Authorization: `Bearer ${forged}` }));
    expect(statuses(more)).toEqual(Array(30).fill(429));
    expectFailureBudgetSpent(await get(first, '127.0.0.6', '/v1/me', { Authorization: `Bearer ${owner.token}` }));
    expect(counted.tokenChecks).toBe(checks);

    const elsewhere = await get(first, '127.0.0.7', '/v1/me', { Authorization: `Bearer ${owner.token}` });
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.headers['ratelimit-policy']).toBe(`"user";q=${userRequestsPerMinute};w=60`);
  });

  it('leave requests that send no credentials uncounted: they cost no lookup', async () => {
    const answers = await burst(first, '127.0.0.8', '/v1/me', failedAuthenticationsPerMinute + 20, () => ({}));
    expect(answers.every((a) => a.status === 401 && a.body.error?.code === 'UNAUTHENTICATED')).toBe(true);
  });
});

describe('signed-in requests outside an organization', () => {
  it('share one budget per client address, whatever account sends them; an organization has its own', async () => {
    const users = await Promise.all(['one', 'two', 'three'].map((name) => signUp(database.db, `${name}-shared@example.com`)));
    // The address has room for 30 more requests (one every 60/1200 s): what 1,170 requests before would leave.
    const room = 30;
    const ahead = 60 - room * (60 / addressRequestsOutsideOrganizationsPerMinute);
    await database.db`insert into staffroom.rate_limits (key, tat) values ('address:127.0.0.4', clock_timestamp() + make_interval(secs => ${ahead}))`;
    const started = Date.now();
    const answers = await burst(first, '127.0.0.4', '/v1/me', 120, (n) => ({ Authorization: `Bearer ${users[n % users.length]!.token}` }));
    const seconds = (Date.now() - started) / 1000;
    const passed = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    expect(passed.length + refused.length).toBe(answers.length);
    // The room, and what refills during the burst (20 a second), though no user came near their own budget.
    expect(passed.length).toBeGreaterThanOrEqual(room - 1);
    expect(passed.length).toBeLessThanOrEqual(room + Math.ceil(seconds * 20) + 2);
    expect(passed[0]!.headers['ratelimit-policy']).toBe(`"address";q=${addressRequestsOutsideOrganizationsPerMinute};w=60`);
    // Every account from the address meets its limit.
    expect(new Set(answers.flatMap((a, n) => (a.status === 429 ? [n % users.length] : []))).size).toBe(users.length);
    const last = refused.at(-1)!;
    expect(last.body.error?.code).toBe('RATE_LIMITED');
    expect(last.body.error?.message).toContain('client address');
    expect(Number(last.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(last.headers['ratelimit-policy']).toBe(`"address";q=${addressRequestsOutsideOrganizationsPerMinute};w=60`);
    expect(last.headers['ratelimit']).toMatch(/^"address";r=0;t=\d+$/);

    // Inside an organization the address's budget does not apply; another address has its own.
    const inside = await get(first, '127.0.0.4', `/v1/organizations/${orgId}`, { Authorization: `Bearer ${owner.token}` });
    expect(inside.status).toBe(200);
    const other = await get(first, '127.0.0.5', '/v1/me', { Authorization: `Bearer ${users[0]!.token}` });
    expect(other.status).toBe(200);
    expect(other.headers['ratelimit-policy']).toBe(`"user";q=${userRequestsPerMinute};w=60`);
  });
});

describe('addressKey', () => {
  it('keeps IPv4 as it is, unmaps IPv4-mapped IPv6, and takes an IPv6 address by its /64', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2::7')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('64:ff9b::198.51.100.1')).toBe('64:ff9b:0:0::/64');
  });
});
