// The service behind a real pooler in transaction mode (PgBouncer, as Supabase's Supavisor on port 6543): queries
// without prepared statements through the pooler, LISTEN on a connection of its own (DATABASE_LISTEN_URL) or, with
// none, polling that says so at start. Two `npm start` processes share the database: one serves the API and runs
// no worker, the other runs the tasks, so a task created on one is heard of (or polled for) by the other. Through
// both: task pick-up, the event stream and its resumption with Last-Event-ID, webhook delivery, idempotency keys
// and rate limits.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createStaffroomClient, type StaffroomClient } from '../../sdk/index.js';
import type { components } from '../../src/generated/api.js';
import { connect, ping } from '../../src/db/client.js';
import { freePort } from '../../src/db/embedded.js';
import { userRequestsPerMinute } from '../../src/services/rate-limits.js';
import { createTestDatabase, setPlan, type TestDatabase } from '../support/database.js';
import { signUp, testJwtSecret, withContractCheck, type TestUser } from '../support/server.js';
import { readEventBlocks } from '../support/sse.js';

type Event = components['schemas']['Event'];
type Task = components['schemas']['Task'];

/** pgbouncer on PATH, or where Debian's package puts it (/usr/sbin is not on every PATH). */
function findPgbouncer(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, 'pgbouncer'), constants.X_OK);
      return join(dir, 'pgbouncer');
    } catch {
      // not there
    }
  }
  return undefined;
}

const pgbouncer = findPgbouncer();
const missing = 'pgbouncer missing: install it (apt-get install pgbouncer)';
if (!pgbouncer) console.warn(`${missing}; the tests through a transaction pooler are SKIPPED.`);
const suite = pgbouncer ? describe : describe.skip;

const wait = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Polls `check` every 50 ms until it returns a value, or fails after `ms`. */
async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`${what}: not within ${ms} ms`);
    await wait(50);
  }
}

interface Pooler {
  url: (database: string) => string;
  stop(): Promise<void>;
}

/** PgBouncer in transaction mode in front of the test cluster, as a child process with an ini of its own. */
async function startPgbouncer(binary: string): Promise<Pooler> {
  const cluster = new URL(inject('clusterUrl'));
  const dir = mkdtempSync(join(tmpdir(), 'staffroom-pgbouncer-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const ini = join(dir, 'pgbouncer.ini');
  // auth_type = any: clients are not asked for a password (loopback only); PgBouncer logs in to Postgres as the
  // cluster's superuser, like the service's own pool.
  writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=${cluster.hostname} port=${cluster.port} user=${decodeURIComponent(cluster.username)} password=${decodeURIComponent(cluster.password)}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = any',
      'pool_mode = transaction',
      'max_client_conn = 200',
      'default_pool_size = 20',
      'ignore_startup_parameters = extra_float_digits',
      '',
    ].join('\n'),
  );
  chmodSync(ini, 0o644);
  // PgBouncer refuses to run as root: as root, it runs as the user the embedded cluster runs as.
  const asUser = userInfo().uid === 0 ? ['-u', unprivilegedUser()] : [];
  const child = spawn(binary, [...asUser, ini], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = (database: string) => `postgres://staffroom@127.0.0.1:${port}/${database}?prepare=false`;
  const probe = connect(url('postgres'), { max: 1 });
  try {
    await eventually(
      `pgbouncer answering on port ${port}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`pgbouncer exited with ${child.exitCode}:\n${output}`);
        return ping(probe).then(
          () => true,
          () => undefined,
        );
      },
      15_000,
    );
  } finally {
    await probe.end({ timeout: 1 });
  }
  return {
    url,
    stop: async () => {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function unprivilegedUser(): string {
  for (const name of ['postgres', 'nobody']) {
    try {
      execFileSync('id', ['-u', name]);
      return name;
    } catch {
      // try the next one
    }
  }
  return 'nobody';
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once('exit', () => done());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
  });
}

interface Instance {
  baseUrl: string;
  output: () => string;
  stop(): Promise<void>;
}

/** `npm start` against DATABASE_URL (nothing embedded, nothing migrated), resolved once it listens. */
async function startInstance(env: Record<string, string | undefined>): Promise<Instance> {
  const port = await freePort();
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['DATABASE_LISTEN_URL', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'SUPABASE_URL', 'RATE_LIMITS']) delete base[name];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: resolve(import.meta.dirname, '../..'),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...base,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
      NODE_ENV: 'development',
      SUPABASE_JWT_SECRET: testJwtSecret,
      WEBHOOKS_ALLOW_PRIVATE_URLS: 'true',
      DATABASE_POOL_SIZE: '5',
      ...env,
    },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await eventually(
    'the instance listening',
    () => {
      if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${output}`);
      return output.includes('Staffroom listening') ? true : undefined;
    },
    60_000,
  );
  return { baseUrl: `http://127.0.0.1:${port}`, output: () => output, stop: () => stop(child) };
}

/** A task's events as Server-Sent Events; `stopAfter` drops the connection after that many events. */
async function follow(
  baseUrl: string,
  path: string,
  token: string,
  options: { lastEventId?: string; stopAfter?: number } = {},
): Promise<{ status: number; events: Event[]; ended: Promise<void> }> {
  const controller = new AbortController();
  const response = await fetch(`${baseUrl}${path}`, {
    headers: {
      Authorization: `Bearer ${token}`,
      Accept: 'text/event-stream',
      ...(options.lastEventId ? { 'Last-Event-ID': options.lastEventId } : {}),
    },
    signal: controller.signal,
  });
  const events: Event[] = [];
  if (!response.ok || !response.body) {
    await response.text();
    return { status: response.status, events, ended: Promise.resolve() };
  }
  const ended = readEventBlocks(response.body, controller.signal, (_block, data) => {
    if (!data) return false;
    events.push(JSON.parse(data) as Event);
    if (options.stopAfter === undefined || events.length < options.stopAfter) return false;
    controller.abort();
    return true;
  });
  return { status: response.status, events, ended };
}

interface Received {
  id: string;
  body: string;
  verified: boolean;
}

/** A webhook receiver that verifies each delivery with the endpoint's secret. */
async function startReceiver(secret: () => string): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      let verified = true;
      try {
        new Webhook(secret()).verify(body, {
          'webhook-id': String(req.headers['webhook-id']),
          'webhook-timestamp': String(req.headers['webhook-timestamp']),
          'webhook-signature': String(req.headers['webhook-signature']),
        });
      } catch {
        verified = false;
      }
      received.push({ id: String(req.headers['webhook-id']), body, verified });
      res.writeHead(204).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((done) => server.once('listening', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    close: () => new Promise((done) => server.close(() => done())),
  };
}

suite(pgbouncer ? 'the service behind PgBouncer in transaction mode' : missing, () => {
  let pooler: Pooler;
  let database: TestDatabase;
  let databaseName: string;
  let owner: TestUser;
  let orgId: string;
  let employeeId: string;
  const latencies: Record<string, number[]> = {};

  beforeAll(async () => {
    pooler = await startPgbouncer(pgbouncer!);
    database = await createTestDatabase();
    databaseName = new URL(database.url).pathname.slice(1);
    owner = await signUp(database.db, 'pooled-owner@example.com');
  });
  afterAll(async () => {
    for (const [mode, values] of Object.entries(latencies))
      console.info(`task pick-up through PgBouncer, ${mode}: ${values.map((ms) => `${ms} ms`).join(', ')}`);
    await database?.drop();
    await pooler?.stop();
  });

  /**
   * Instances over the pooler: `api` runs no worker (WORKER_CONCURRENCY=0), so each task is run by `worker`,
   * which hears of it only through the database.
   */
  function useInstances(listenUrl: () => string | undefined) {
    const instances = {} as { api: Instance; worker: Instance };
    beforeAll(async () => {
      const env = { DATABASE_URL: pooler.url(databaseName), DATABASE_LISTEN_URL: listenUrl() };
      [instances.api, instances.worker] = await Promise.all([
        startInstance({ ...env, WORKER_CONCURRENCY: '0' }),
        startInstance({ ...env, WORKER_CONCURRENCY: '2' }),
      ]);
    }, 120_000);
    afterAll(async () => {
      await Promise.all([instances.api?.stop(), instances.worker?.stop()]);
    });
    return instances;
  }

  const client = (instance: Instance): StaffroomClient =>
    withContractCheck(createStaffroomClient({ baseUrl: instance.baseUrl, retries: 0, accessToken: owner.token }));

  async function setUp(instance: Instance): Promise<void> {
    if (orgId) return;
    const created = await client(instance).POST('/v1/organizations', { body: { name: 'Pooled' } });
    expect(created.response.status, JSON.stringify(created.error)).toBe(201);
    orgId = created.data!.data.id;
    await setPlan(database.db, orgId, 'pro');
    employeeId = (
      await client(instance).POST('/v1/organizations/{orgId}/employees', {
        params: { path: { orgId } },
        body: { name: 'Pooled helper', instructions: 'Help.' },
      })
    ).data!.data.id;
  }

  const createTask = async (instance: Instance, input: string): Promise<Task> => {
    const created = await client(instance).POST('/v1/organizations/{orgId}/tasks', {
      params: { path: { orgId } },
      body: { employeeId, input },
    });
    expect(created.response.status, JSON.stringify(created.error)).toBe(202);
    return created.data!.data;
  };
  const getTask = async (instance: Instance, taskId: string): Promise<Task> =>
    (await client(instance).GET('/v1/organizations/{orgId}/tasks/{taskId}', { params: { path: { orgId, taskId } } })).data!.data;

  /** Tasks created one after the other on `api`, each picked up by `worker`; the database's own clock times it. */
  async function pickUps(instances: { api: Instance }, mode: string): Promise<number[]> {
    const measured: number[] = [];
    for (let n = 0; n < 5; n++) {
      const task = await createTask(instances.api, `Pick me up, ${mode} ${n}.`);
      const finished = await eventually(`task ${n} finished`, async () => {
        const seen = await getTask(instances.api, task.id);
        return seen.status === 'succeeded' ? seen : undefined;
      });
      measured.push(Date.parse(finished.startedAt!) - Date.parse(finished.createdAt));
      // Not at once: an idle worker, as a real deployment's usually is, not one still awake from the last task.
      await wait(300);
    }
    latencies[mode] = measured;
    return measured;
  }

  /** A task followed from its start, the connection dropped after its first event and resumed with Last-Event-ID. */
  async function followWithResume(instances: { api: Instance }): Promise<void> {
    const task = await createTask(instances.api, 'Stream me through the pooler.');
    const path = `/v1/organizations/${orgId}/tasks/${task.id}/events`;
    const first = await follow(instances.api.baseUrl, path, owner.token, { stopAfter: 1 });
    expect(first.status).toBe(200);
    await first.ended;
    expect(first.events).toHaveLength(1);
    const rest = await follow(instances.api.baseUrl, path, owner.token, { lastEventId: first.events[0]!.id });
    await rest.ended;
    const streamed = [...first.events, ...rest.events];
    expect(streamed.at(-1)?.type).toBe('task.succeeded');
    // Nothing repeated, in order, and nothing missed: every event of the task's in the organization's list
    // (which leaves out the streamed text) was streamed.
    const ids = streamed.map((event) => BigInt(event.id));
    expect(ids.every((id, n) => n === 0 || id > ids[n - 1]!)).toBe(true);
    const listed = (
      await client(instances.api).GET('/v1/organizations/{orgId}/events', { params: { path: { orgId }, query: { limit: 100 } } })
    ).data!.data.filter((event) => JSON.stringify(event).includes(task.id));
    expect(listed.length).toBeGreaterThan(1);
    expect(streamed.map((event) => event.id)).toEqual(expect.arrayContaining(listed.map((event) => event.id)));
  }

  /** A stream opened before its task has events (the task waits in the queue): it hears each as it comes. */
  async function followLive(instances: { api: Instance }): Promise<void> {
    const task = await createTask(instances.api, 'Stream me live.');
    const stream = await follow(instances.api.baseUrl, `/v1/organizations/${orgId}/tasks/${task.id}/events`, owner.token);
    await stream.ended;
    expect(stream.events.at(-1)?.type).toBe('task.succeeded');
    expect(new Set(stream.events.map((event) => event.id)).size).toBe(stream.events.length);
  }

  async function deliversWebhook(instances: { api: Instance }): Promise<void> {
    let secret = '';
    const receiver = await startReceiver(() => secret);
    try {
      const created = await client(instances.api).POST('/v1/organizations/{orgId}/webhook-endpoints', {
        params: { path: { orgId } },
        body: { url: receiver.url, eventTypes: ['task.succeeded'], description: 'Pooled receiver' },
      });
      expect(created.response.status, JSON.stringify(created.error)).toBe(201);
      secret = created.data!.data.secret;
      const task = await createTask(instances.api, 'Tell my webhook.');
      const delivery = await eventually('the webhook delivered', () => receiver.received.find((d) => d.body.includes(task.id)));
      expect(delivery.verified).toBe(true);
      expect(JSON.parse(delivery.body)).toMatchObject({ type: 'task.succeeded' });
      await client(instances.api).DELETE('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}', {
        params: { path: { orgId, endpointId: created.data!.data.id } },
      });
    } finally {
      await receiver.close();
    }
  }

  describe('with DATABASE_LISTEN_URL on a direct connection', () => {
    const instances = useInstances(() => database.url);

    it('says at start where it listens, without the password', async () => {
      await setUp(instances.api);
      for (const instance of [instances.api, instances.worker]) {
        expect(instance.output()).toContain(`LISTEN on 127.0.0.1:${new URL(database.url).port}/${databaseName} (DATABASE_LISTEN_URL)`);
        expect(instance.output()).not.toContain('No LISTEN connection');
        expect(instance.output()).not.toContain(new URL(inject('clusterUrl')).password);
      }
    });

    it("picks up a task created on another instance at once, on the database's notice", async () => {
      const measured = await pickUps(instances, 'with the listen connection');
      // Generous: a notice takes milliseconds; the worker's safety-net poll alone would take 10 s.
      for (const ms of measured) expect(ms).toBeLessThan(5_000);
    }, 60_000);

    it('streams a task run by the other instance, and resumes with Last-Event-ID missing and repeating nothing', async () => {
      await followLive(instances);
      await followWithResume(instances);
    });

    it('delivers webhooks', async () => {
      await deliversWebhook(instances);
    });
  });

  describe('without a listen connection (DATABASE_URL a pooler, DATABASE_LISTEN_URL unset)', () => {
    const instances = useInstances(() => undefined);

    it('says once at start that it polls, what and how often', async () => {
      await setUp(instances.api);
      for (const instance of [instances.api, instances.worker]) {
        const output = instance.output();
        expect(output).toContain('heard no notice');
        expect(output.split('No LISTEN connection').length - 1).toBe(1);
        expect(output).toContain('the worker looks for queued tasks every 1 s');
        expect(output).toContain('event streams read new events every 1 s');
        expect(output).not.toContain('not listening for');
      }
    });

    it('picks up a task created on another instance by polling, within seconds', async () => {
      const measured = await pickUps(instances, 'polling (no listen connection)');
      for (const ms of measured) expect(ms).toBeLessThan(5_000);
    }, 60_000);

    it('streams a task run by the other instance, and resumes with Last-Event-ID missing and repeating nothing', async () => {
      await followLive(instances);
      await followWithResume(instances);
    });

    it('delivers webhooks', async () => {
      await deliversWebhook(instances);
    });

    it('replays an Idempotency-Key from either instance and creates one task', async () => {
      const key = `pooled-${crypto.randomUUID()}`;
      const post = (instance: Instance, input: string) =>
        fetch(`${instance.baseUrl}/v1/organizations/${orgId}/tasks`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${owner.token}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
          body: JSON.stringify({ employeeId, input }),
        });
      const first = await post(instances.api, 'Once.');
      expect(first.status).toBe(202);
      const firstTask = ((await first.json()) as { data: Task }).data;
      const again = await post(instances.worker, 'Once.');
      expect(again.status).toBe(202);
      expect(((await again.json()) as { data: Task }).data.id).toBe(firstTask.id);
      const other = await post(instances.api, 'Something else.');
      expect(other.status).toBe(409);
      expect(((await other.json()) as { error: { code: string } }).error.code).toBe('IDEMPOTENCY_CONFLICT');
      const rows = await database.db<{ count: number }[]>`
        select count(*)::int as count from staffroom.tasks where organization_id = ${orgId} and input = 'Once.'`;
      expect(rows[0]?.count).toBe(1);
    });

    it("counts one user's requests against one budget across both instances, and answers 429 past it", async () => {
      const user = await signUp(database.db, 'pooled-burst@example.com');
      const count = userRequestsPerMinute + 100;
      const statuses: number[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < count) {
            const instance = next++ % 2 === 0 ? instances.api : instances.worker;
            const response = await fetch(`${instance.baseUrl}/v1/me`, { headers: { Authorization: `Bearer ${user.token}` } });
            await response.text();
            statuses.push(response.status);
            if (response.status === 429) expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
          }
        }),
      );
      expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
      expect(statuses.filter((status) => status === 429).length).toBeGreaterThan(0);
    }, 60_000);
  });
});
