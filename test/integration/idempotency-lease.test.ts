// What a dead request leaves of an Idempotency-Key, and the bookkeeping around a request under locks: a key
// claimed by a request that died is reclaimed once its short lease ends (not a day later), a task created
// before its response was kept is replayed by the database rather than created twice, and a locked
// idempotency_keys or rate_limits table answers 503 within the connection wait instead of holding the request.
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { signUp, type TestUser } from '../support/server.js';

const app = useTestApp({ rateLimits: true });
let owner: TestUser;
let orgId: string;
let employeeId: string;

beforeAll(async () => {
  owner = await signUp(app.database.db, 'lease@example.com');
  const client = app.server.client({ accessToken: owner.token });
  orgId = (await client.POST('/v1/organizations', { body: { name: 'Leased' } })).data!.data.id;
  const employee = await client.POST('/v1/organizations/{orgId}/employees', {
    params: { path: { orgId } },
    body: { name: 'Leaser', instructions: 'Answer.', maxOutputTokens: 16 },
  });
  employeeId = employee.data!.data.id;
});

async function post(path: string, body: unknown, key?: string): Promise<{ status: number; text: string; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${app.server.baseUrl}${path}`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${owner.token}`,
      'Content-Type': 'application/json',
      ...(key ? { 'Idempotency-Key': key } : {}),
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text(), ms: performance.now() - started };
}

const keyHash = (key: string) => createHash('sha256').update(`user:${owner.id}\n${key}`).digest('hex');
const count = async (sql: string) => (await app.database.db.unsafe<{ n: number }[]>(sql))[0]!.n;

/** Runs `during` while another connection holds `table` locked in an open transaction. */
async function whileLocked<T>(table: string, during: () => Promise<T>): Promise<T> {
  const locker = await app.database.db.reserve();
  try {
    await locker`begin`;
    await locker.unsafe(`lock table ${table} in access exclusive mode`);
    return await during();
  } finally {
    await locker`rollback`;
    locker.release();
  }
}

describe('a key whose request died', () => {
  it('is claimed anew once its lease has ended, and the retry acts once', async () => {
    const key = crypto.randomUUID();
    // As a killed instance leaves it: claimed, never kept nor freed, its lease over.
    await app.database.db`
      insert into staffroom.idempotency_keys (key_hash, operation, request_hash, state, expires_at, created_at)
      values (${keyHash(key)}, 'createOrganization', ${'0'.repeat(64)}, 'running', now() - interval '1 second', now() - interval '16 seconds')`;
    const retry = await post('/v1/organizations', { name: 'After the lease' }, key);
    expect(retry.status).toBe(201);
    expect(await count(`select count(*)::int as n from staffroom.organizations where name = 'After the lease'`)).toBe(1);
    const replay = await post('/v1/organizations', { name: 'After the lease' }, key);
    expect(replay.status).toBe(201);
    expect(replay.text).toBe(retry.text);
    expect(await count(`select count(*)::int as n from staffroom.organizations where name = 'After the lease'`)).toBe(1);
  });

  it('is leased for the request deadline and a margin while it runs, and kept a day once answered', async () => {
    const key = crypto.randomUUID();
    // The create waits on a lock of its own table meanwhile, its key claimed.
    const created = whileLocked('staffroom.organizations', async () => {
      const answer = post('/v1/organizations', { name: 'Kept a day' }, key);
      for (let i = 0; i < 100; i++) {
        const [claim] = await app.database.db<{ seconds: number }[]>`
          select extract(epoch from expires_at - now())::float8 as seconds from staffroom.idempotency_keys
          where key_hash = ${keyHash(key)} and state = 'running'`;
        if (claim) {
          // REQUEST_TIMEOUT_MS (10 s) and a margin of seconds, not a day.
          expect(claim.seconds).toBeGreaterThan(5);
          expect(claim.seconds).toBeLessThan(20);
          break;
        }
        expect(i).toBeLessThan(99);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // Wrapped: the lock goes as soon as the claim was seen, not once the create answers.
      return { answer };
    });
    expect((await (await created).answer).status).toBe(201);
    const [kept] = await app.database.db<{ hours: number }[]>`
      select extract(epoch from expires_at - now()) / 3600 as hours from staffroom.idempotency_keys where key_hash = ${keyHash(key)}`;
    expect(Number(kept!.hours)).toBeGreaterThan(23);
  });

  it('replays the task created before the response was kept, never a second task', async () => {
    const key = crypto.randomUUID();
    const body = { employeeId, input: 'Created, then the instance died.' };
    const first = await post(`/v1/organizations/${orgId}/tasks`, body, key);
    expect(first.status).toBe(202);
    // The instance died between the task's commit and keeping its response: the key is a dead claim.
    await app.database.db`
      update staffroom.idempotency_keys set state = 'running', response = null, expires_at = now() - interval '1 second'
      where key_hash = ${keyHash(key)}`;
    const retry = await post(`/v1/organizations/${orgId}/tasks`, body, key);
    expect(retry.status).toBe(202);
    expect(JSON.parse(retry.text).data.id).toBe(JSON.parse(first.text).data.id);
    expect(await count(`select count(*)::int as n from staffroom.tasks where input = 'Created, then the instance died.'`)).toBe(1);
  });
});

describe('bookkeeping under a lock', () => {
  it('answers 503 in time to a create with an Idempotency-Key while idempotency_keys is locked, creating nothing', async () => {
    const answer = await whileLocked('staffroom.idempotency_keys', () =>
      post('/v1/organizations', { name: 'Behind a lock' }, crypto.randomUUID()),
    );
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'UNAVAILABLE' } });
    expect(answer.ms).toBeLessThan(5_000);
    expect(await count(`select count(*)::int as n from staffroom.organizations where name = 'Behind a lock'`)).toBe(0);
  });

  it('answers 503 in time to a counted request while rate_limits is locked, creating nothing', async () => {
    const answer = await whileLocked('staffroom.rate_limits', () => post('/v1/organizations', { name: 'Not counted' }));
    expect(answer.status).toBe(503);
    expect(answer.ms).toBeLessThan(5_000);
    expect(await count(`select count(*)::int as n from staffroom.organizations where name = 'Not counted'`)).toBe(0);
  });

  it('acts normally once the lock is gone', async () => {
    expect((await post('/v1/organizations', { name: 'After the lock' }, crypto.randomUUID())).status).toBe(201);
  });
});
