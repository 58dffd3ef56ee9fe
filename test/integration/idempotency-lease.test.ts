// What a dead request leaves of an Idempotency-Key, and the bookkeeping around a request under locks: a key
// claimed by a request that died is reclaimed once its short lease ends (not a day later), a task created
// before its response was kept is replayed by the database rather than created twice, and a locked
// idempotency_keys or rate_limits table answers 503 within the connection wait instead of holding the request.
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { setPlan } from '../support/database.js';
import { signUp, type TestUser } from '../support/server.js';

const app = useTestApp({ rateLimits: true, allowPrivateWebhookUrls: true });
let owner: TestUser;
let orgId: string;
let employeeId: string;

beforeAll(async () => {
  owner = await signUp(app.database.db, 'lease@example.com');
  const client = app.server.client({ accessToken: owner.token });
  orgId = (await client.POST('/v1/organizations', { body: { name: 'Leased' } })).data!.data.id;
  await setPlan(app.database.db, orgId, 'pro'); // room for the employees each create below hires
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

/** The creates that make their resource in one transaction, which then keeps the key's response too. */
const creates = [
  {
    operation: 'createOrganization',
    table: 'staffroom.organizations',
    request: (tag: string) => ({ path: '/v1/organizations', type: 'application/json', text: JSON.stringify({ name: tag }) }),
  },
  {
    operation: 'createEmployee',
    table: 'staffroom.employees',
    request: (tag: string) => ({
      path: `/v1/organizations/${orgId}/employees`,
      type: 'application/json',
      text: JSON.stringify({ name: tag, instructions: 'Answer.' }),
    }),
  },
  {
    operation: 'importEmployee',
    table: 'staffroom.employees',
    request: (tag: string) => ({
      path: `/v1/organizations/${orgId}/employees/import`,
      type: 'text/markdown',
      text: `---\nname: ${tag}\ndescription: Imported once.\ncolor: blue\n---\nAnswer.\n`,
    }),
  },
  {
    operation: 'createApiKey',
    table: 'staffroom.api_keys',
    request: (tag: string) => ({
      path: `/v1/organizations/${orgId}/api-keys`,
      type: 'application/json',
      text: JSON.stringify({ name: tag }),
    }),
  },
  {
    operation: 'createWebhookEndpoint',
    table: 'staffroom.webhook_endpoints',
    request: (tag: string) => ({
      path: `/v1/organizations/${orgId}/webhook-endpoints`,
      type: 'application/json',
      text: JSON.stringify({ url: 'http://127.0.0.1:9/hooks', eventTypes: ['task.succeeded'], description: tag }),
    }),
  },
] as const;

async function send(request: { path: string; type: string; text: string }, key: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${app.server.baseUrl}${request.path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${owner.token}`, 'Content-Type': request.type, 'Idempotency-Key': key },
    body: request.text,
  });
  return { status: response.status, text: await response.text() };
}

/** A name each create can take, the agent file's too (lowercase words and hyphens). */
const tagged = (what: string, operation: string) => `${what}-${operation.toLowerCase()}`;

const named = { 'staffroom.webhook_endpoints': 'description', 'staffroom.employees': 'slug' } as Record<string, string>;
const made = async (table: string, tag: string) =>
  count(`select count(*)::int as n from ${table} where ${named[table] ?? 'name'} = '${tag}'`);

describe.each(creates)('$operation with an Idempotency-Key', ({ operation, table, request }) => {
  it('commits its resource and the kept response in one transaction', async () => {
    const db = app.database.db;
    // Each write says which transaction made it: txid_current() is the top-level one, even in a subtransaction.
    await db.unsafe(`
      create table staffroom.writes (tbl text, xid bigint);
      create function staffroom.note_write() returns trigger language plpgsql security definer
        set search_path = pg_catalog, pg_temp
        as $$ begin insert into staffroom.writes values (tg_table_name, txid_current()); return null; end $$;
      create trigger note_write after insert on ${table} for each row execute function staffroom.note_write();
      create trigger note_write after update on staffroom.idempotency_keys
        for each row when (new.state = 'done') execute function staffroom.note_write();`);
    let first: { status: number; text: string };
    let writes: { tbl: string; xid: string }[];
    try {
      first = await send(request(tagged('together', operation)), crypto.randomUUID());
      writes = await db<{ tbl: string; xid: string }[]>`select tbl, xid::text from staffroom.writes`;
    } finally {
      await db.unsafe(`
        drop trigger note_write on ${table}; drop trigger note_write on staffroom.idempotency_keys;
        drop function staffroom.note_write(); drop table staffroom.writes;`);
    }
    expect(first.status, first.text).toBe(201);
    expect(writes.map((write) => write.tbl).sort()).toEqual([table.split('.')[1], 'idempotency_keys'].sort());
    expect(new Set(writes.map((write) => write.xid)).size).toBe(1);
  });

  it('makes nothing when its response cannot be kept, frees the key, and its retry acts once', async () => {
    const key = crypto.randomUUID();
    const tag = tagged('neither', operation);
    const db = app.database.db;
    // A fault at the last moment of the transaction, as a crash between the resource and its key would be.
    await db.unsafe(`
      create function staffroom.refuse_keeping() returns trigger language plpgsql set search_path = pg_catalog, pg_temp
        as $$ begin raise exception 'keeping refused'; end $$;
      create trigger refuse_keeping before update on staffroom.idempotency_keys
        for each row when (new.state = 'done') execute function staffroom.refuse_keeping();`);
    let failed: { status: number; text: string };
    try {
      failed = await send(request(tag), key);
    } finally {
      await db.unsafe('drop trigger refuse_keeping on staffroom.idempotency_keys; drop function staffroom.refuse_keeping()');
    }
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect(await made(table, tag)).toBe(0);
    expect(await count(`select count(*)::int as n from staffroom.idempotency_keys where key_hash = '${keyHash(key)}'`)).toBe(0);
    const retry = await send(request(tag), key);
    expect(retry.status, retry.text).toBe(201);
    const replay = await send(request(tag), key);
    expect(replay).toEqual(retry);
    expect(await made(table, tag)).toBe(1);
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
