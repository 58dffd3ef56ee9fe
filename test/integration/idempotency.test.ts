// Idempotency-Key on every POST that creates: the same key and request replay the first response (status,
// headers, body) and act once, also when ten arrive at once; another request with the key is a 409; a failed
// request frees its key; keys are the caller's own; what is kept cannot be read from the database.
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { signUp, type TestUser } from '../support/server.js';

const app = useTestApp();
let owner: TestUser;
let orgId: string;

beforeAll(async () => {
  owner = await signUp(app.database.db, 'idem@example.com');
  const created = await app.server.client({ accessToken: owner.token }).POST('/v1/organizations', { body: { name: 'Idempotent' } });
  orgId = created.data!.data.id;
});

interface Sent {
  status: number;
  headers: Headers;
  text: string;
}

async function post(
  path: string,
  body: unknown,
  key: string | undefined,
  user: TestUser = owner,
  contentType = 'application/json',
): Promise<Sent> {
  const response = await fetch(`${app.server.baseUrl}${path}`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${user.token}`,
      'Content-Type': contentType,
      ...(key ? { 'Idempotency-Key': key } : {}),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const count = async (sql: string) => (await app.database.db.unsafe<{ n: number }[]>(sql))[0]!.n;

describe('createOrganization with an Idempotency-Key', () => {
  it('replays the first response, identical, and creates one organization', async () => {
    const key = crypto.randomUUID();
    const first = await post('/v1/organizations', { name: 'Replayed' }, key);
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await post('/v1/organizations', { name: 'Replayed' }, key);
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await count(`select count(*)::int as n from staffroom.organizations where name = 'Replayed'`)).toBe(1);
  });

  it('answers 409 IDEMPOTENCY_CONFLICT to another request with the key, naming the header', async () => {
    const key = crypto.randomUUID();
    expect((await post('/v1/organizations', { name: 'First body' }, key)).status).toBe(201);
    const other = await post('/v1/organizations', { name: 'Second body' }, key);
    expect(other.status).toBe(409);
    expect(JSON.parse(other.text)).toMatchObject({
      error: { code: 'IDEMPOTENCY_CONFLICT', details: [{ field: 'header.Idempotency-Key' }] },
    });
    expect(await count(`select count(*)::int as n from staffroom.organizations where name = 'Second body'`)).toBe(0);
  });

  it('acts once when ten requests with the key arrive at once, and all get the same answer', async () => {
    const key = crypto.randomUUID();
    const answers = await Promise.all(Array.from({ length: 10 }, () => post('/v1/organizations', { name: 'Tenfold' }, key)));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(201));
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true')).toHaveLength(9);
    expect(await count(`select count(*)::int as n from staffroom.organizations where name = 'Tenfold'`)).toBe(1);
  });

  it('frees the key of a request that failed, so its retry acts', async () => {
    const client = app.server.client({ accessToken: owner.token });
    const holder = (await client.POST('/v1/organizations', { body: { name: 'Holder', slug: 'held-slug' } })).data!.data;
    const key = crypto.randomUUID();
    const failed = await post('/v1/organizations', { name: 'Wants the slug', slug: 'held-slug' }, key);
    expect(failed.status).toBe(409);
    expect(JSON.parse(failed.text).error.code).toBe('SLUG_TAKEN');
    // A deleted organization holds its slug while it may be restored: the holder moves to another one instead.
    await client.PATCH('/v1/organizations/{orgId}', { params: { path: { orgId: holder.id } }, body: { slug: 'moved-slug' } });
    const retried = await post('/v1/organizations', { name: 'Wants the slug', slug: 'held-slug' }, key);
    expect(retried.status).toBe(201);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
  });

  it("keeps keys per caller: another user's same key is theirs", async () => {
    const other = await signUp(app.database.db, 'other-idem@example.com');
    const key = crypto.randomUUID();
    const mine = await post('/v1/organizations', { name: 'Mine', slug: 'mine-of-one' }, key);
    const theirs = await post('/v1/organizations', { name: 'Mine', slug: 'mine-of-other' }, key, other);
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect(JSON.parse(theirs.text).data.id).not.toBe(JSON.parse(mine.text).data.id);
  });
});

describe('every creating operation', () => {
  const markdown = `---\nname: replayed-reviewer\ndescription: Reviews.\n---\nReview carefully.\n`;
  const cases: [string, () => string, unknown, string, string][] = [
    [
      'createInvitation',
      () => `/v1/organizations/${orgId}/invitations`,
      { email: 'invitee@example.com' },
      'application/json',
      'invitations',
    ],
    ['createApiKey', () => `/v1/organizations/${orgId}/api-keys`, { name: 'replayed key' }, 'application/json', 'api_keys'],
    [
      'createEmployee',
      () => `/v1/organizations/${orgId}/employees`,
      { name: 'Replayed', instructions: 'Work.' },
      'application/json',
      'employees',
    ],
    ['importEmployee', () => `/v1/organizations/${orgId}/employees/import`, markdown, 'text/markdown', 'employees'],
  ];

  it.each(cases)('%s replays its first response and acts once', async (_operation, path, body, contentType, table) => {
    const before = await count(`select count(*)::int as n from staffroom.${table} where organization_id = '${orgId}'`);
    const key = crypto.randomUUID();
    const first = await post(path(), body, key, owner, contentType);
    expect(first.status).toBe(201);
    const again = await post(path(), body, key, owner, contentType);
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await count(`select count(*)::int as n from staffroom.${table} where organization_id = '${orgId}'`)).toBe(before + 1);
  });

  it('createTask replays its 202 with Location and Retry-After', async () => {
    const employee = JSON.parse(
      (await post(`/v1/organizations/${orgId}/employees`, { name: 'Tasked', instructions: 'Work.' }, undefined)).text,
    ).data.id as string;
    const key = crypto.randomUUID();
    const first = await post(`/v1/organizations/${orgId}/tasks`, { employeeId: employee, input: 'Once.' }, key);
    expect(first.status).toBe(202);
    const again = await post(`/v1/organizations/${orgId}/tasks`, { employeeId: employee, input: 'Once.' }, key);
    expect(again.text).toBe(first.text);
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    expect(again.headers.get('retry-after')).toBe(first.headers.get('retry-after'));
    expect(await count(`select count(*)::int as n from staffroom.tasks where employee_id = '${employee}'`)).toBe(1);
  });

  it('keeps a new API key replayable without the database holding its secret or the key', async () => {
    const key = crypto.randomUUID();
    const created = await post(`/v1/organizations/${orgId}/api-keys`, { name: 'secret kept sealed' }, key);
    const secret = JSON.parse(created.text).data.secret as string;
    const rows = await app.database.db<{ key_hash: string; response: Buffer }[]>`select key_hash, response from staffroom.idempotency_keys`;
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row.response.includes(Buffer.from(secret))).toBe(false);
      expect(row.response.includes(Buffer.from('sk_live_'))).toBe(false);
      expect(row.key_hash).not.toContain(key);
    }
    expect(JSON.parse((await post(`/v1/organizations/${orgId}/api-keys`, { name: 'secret kept sealed' }, key)).text).data.secret).toBe(
      secret,
    );
  });
});

describe('keys belong to the caller that sent them', () => {
  let alice: TestUser;
  let carol: TestUser;
  let teamId: string;
  let employeeId: string;
  const tasksPath = () => `/v1/organizations/${teamId}/tasks`;
  const taskId = (sent: Sent) => JSON.parse(sent.text).data.id as string;
  const tasksWith = (input: string) => count(`select count(*)::int as n from staffroom.tasks where input = '${input}'`);

  beforeAll(async () => {
    alice = await signUp(app.database.db, 'alice-idem@example.com');
    carol = await signUp(app.database.db, 'carol-idem@example.com');
    teamId = JSON.parse((await post('/v1/organizations', { name: 'Shared keys' }, undefined, alice)).text).data.id as string;
    // Room for the tasks below, which stay queued (no worker runs here): the free plan allows one at a time.
    await app.database.db`update staffroom.organizations set plan_id = 'pro' where id = ${teamId}`;
    await app.database.db`insert into staffroom.profiles (id, email) values (${carol.id}, ${carol.email})`;
    await app.database.db`insert into staffroom.memberships (organization_id, user_id, role) values (${teamId}, ${carol.id}, 'member')`;
    const employee = await post(`/v1/organizations/${teamId}/employees`, { name: 'Shared', instructions: 'Work.' }, undefined, alice);
    employeeId = JSON.parse(employee.text).data.id as string;
  });

  /** A POST with an API key instead of a user's token. */
  async function postWithKey(path: string, body: unknown, key: string, secret: string): Promise<Sent> {
    const response = await fetch(`${app.server.baseUrl}${path}`, {
      method: 'POST',
      headers: { 'X-Api-Key': secret, 'Content-Type': 'application/json', 'Idempotency-Key': key },
      body: JSON.stringify(body),
    });
    return { status: response.status, headers: response.headers, text: await response.text() };
  }

  it("gives Carol her own task for Alice's key and body, and Alice still her replay", async () => {
    const key = crypto.randomUUID();
    const body = { employeeId, input: 'Same key, two members.' };
    const alices = await post(tasksPath(), body, key, alice);
    expect(alices.status).toBe(202);
    const carols = await post(tasksPath(), body, key, carol);
    expect(carols.status).toBe(202);
    expect(carols.headers.get('idempotent-replayed')).toBeNull();
    expect(taskId(carols)).not.toBe(taskId(alices));
    const replay = await post(tasksPath(), body, key, alice);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.text).toBe(alices.text);
    expect(await tasksWith('Same key, two members.')).toBe(2);
  });

  it("answers Carol's other body with Alice's key as a request of her own, never a 409", async () => {
    const key = crypto.randomUUID();
    expect((await post(tasksPath(), { employeeId, input: 'Alice asks.' }, key, alice)).status).toBe(202);
    const carols = await post(tasksPath(), { employeeId, input: 'Carol asks.' }, key, carol);
    expect(carols.status).toBe(202);
    expect(carols.headers.get('idempotent-replayed')).toBeNull();
    expect(await tasksWith('Carol asks.')).toBe(1);
  });

  it('keeps the keys of two API keys of one organization apart, and replays each its own', async () => {
    const secrets: string[] = [];
    for (const name of ['first', 'second']) {
      const created = await post(`/v1/organizations/${teamId}/api-keys`, { name }, undefined, alice);
      secrets.push(JSON.parse(created.text).data.secret as string);
    }
    const [one, two] = secrets as [string, string];
    const key = crypto.randomUUID();
    const body = { employeeId, input: 'Same key, two API keys.' };
    const first = await postWithKey(tasksPath(), body, key, one);
    const second = await postWithKey(tasksPath(), body, key, two);
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(second.headers.get('idempotent-replayed')).toBeNull();
    expect(taskId(second)).not.toBe(taskId(first));
    expect(await tasksWith('Same key, two API keys.')).toBe(2);

    const other = crypto.randomUUID();
    expect((await postWithKey(tasksPath(), { employeeId, input: 'The first key asks.' }, other, one)).status).toBe(202);
    expect((await postWithKey(tasksPath(), { employeeId, input: 'The second key asks.' }, other, two)).status).toBe(202);

    const replay = await postWithKey(tasksPath(), body, key, one);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.text).toBe(first.text);
  });
});
