// `kill -9` of npm start while tasks are created with Idempotency-Keys: on the restarted server every key is
// usable again within seconds (its lease, not a day), each retry answers 202 or the replay, and each key
// stands for one task: the one accepted before the crash, when there was one.
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalServer, stopChildProcess } from '../support/processes.js';
import { connect, type Db } from '../../src/db/client.js';
import { freePort, runningPostmaster } from '../../src/db/embedded.js';
import { loadLocalSecrets } from '../../src/db/local.js';
import { localIssuer, mintAccessToken } from '../../src/services/identity.js';

let dataDir: string;
let port: number;
let server: ChildProcess | undefined;

// A short deadline makes a short lease: ceil(3 s) and the margin.
const startServer = () => startLocalServer({ dataDir, port, env: { ...process.env, REQUEST_TIMEOUT_MS: '3000' } });

function database(): Db {
  const { port: pgPort } = runningPostmaster(join(dataDir, 'pg'))!;
  return connect(`postgres://postgres:${encodeURIComponent(loadLocalSecrets(dataDir).databasePassword)}@127.0.0.1:${pgPort}/postgres`, {
    max: 2,
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'staffroom-idem-crash-'));
  chmodSync(dataDir, 0o755); // the cluster runs unprivileged when the tests run as root
  port = await freePort();
  server = await startServer();
}, 90_000);
afterAll(async () => {
  await stopChildProcess(server, 'SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start killed while tasks are created with Idempotency-Keys', () => {
  it('frees every key within seconds and maps each to one task', { timeout: 120_000 }, async () => {
    const userId = crypto.randomUUID();
    let db = database();
    await db`insert into auth.users (id, email) values (${userId}, 'idem-crash@example.com')`;
    // This cluster is the test's own: its free plan runs every task at once, so no create waits for another.
    await db`update staffroom.plans set max_concurrent_tasks = 100 where id = 'free'`;
    await db.end();
    const token = await mintAccessToken({
      secret: loadLocalSecrets(dataDir).jwtSecret,
      userId,
      email: 'idem-crash@example.com',
      issuer: localIssuer,
    });
    const call = async (path: string, body: unknown, key?: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
          ...(key ? { 'Idempotency-Key': key } : {}),
        },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as { data: { id: string } } };
    };
    const orgId = (await call('/v1/organizations', { name: 'Idempotent crash' })).body.data.id;
    const employeeId = (
      await call(`/v1/organizations/${orgId}/employees`, { name: 'Worker', instructions: 'Answer.', maxOutputTokens: 16 })
    ).body.data.id;

    const keys = Array.from({ length: 20 }, () => crypto.randomUUID());
    const create = (i: number) => call(`/v1/organizations/${orgId}/tasks`, { employeeId, input: `Keyed ${i}` }, keys[i]);
    // Two answered before the crash, whose retries must replay them.
    const accepted = new Map<string, string>();
    for (const i of [0, 1]) accepted.set(keys[i]!, (await create(i)).body.data.id);

    // The others are killed in flight: their keys claimed, their tasks held back by a lock on the table.
    db = database();
    const locker = await db.reserve();
    await locker`begin`;
    await locker`lock table staffroom.tasks in access exclusive mode`;
    const inFlight = keys.slice(2).map((_, i) => create(i + 2).catch(() => undefined));
    let claimed = 0;
    for (let waited = 0; claimed < 10 && waited < 2_500; waited += 20) {
      await new Promise((resolveDelay) => setTimeout(resolveDelay, 20));
      const [row] = await db<{ n: number }[]>`select count(*)::int as n from staffroom.idempotency_keys where state = 'running'`;
      claimed = row!.n;
    }
    await stopChildProcess(server, 'SIGKILL');
    await locker`rollback`;
    locker.release();
    await Promise.all(inFlight);
    // What the dead instance left: claims never kept nor freed, which no request will ever end.
    expect(claimed).toBeGreaterThanOrEqual(10);
    await db.end();
    server = await startServer();

    const restarted = performance.now();
    const answers = await Promise.all(
      keys.map(async (key, i) => {
        for (;;) {
          const retry = await create(i);
          // A key claimed by the dead instance answers 409 until its lease ends; then the retry acts or replays.
          // A 503 (the fresh instance busy with twenty retries at once) says to retry too, as the SDK does.
          if ((retry.status !== 409 && retry.status !== 503) || performance.now() - restarted > 60_000)
            return { key, freedAfter: performance.now() - restarted, ...retry };
          await new Promise((resolveDelay) => setTimeout(resolveDelay, 250));
        }
      }),
    );
    expect(answers.filter((a) => a.status !== 202).map((a) => a.status)).toEqual([]);
    // Within the lease (REQUEST_TIMEOUT_MS and a margin) and the 5 s a retry waits for a running key.
    expect(answers.filter((a) => a.freedAfter > 20_000)).toEqual([]);
    for (const answer of answers) {
      const before = accepted.get(answer.key);
      if (before) expect(answer.body.data.id).toBe(before);
    }

    db = database();
    try {
      const perKey = await db<{ key: string; n: number }[]>`
        select idempotency_key as key, count(*)::int as n from staffroom.tasks
        where organization_id = ${orgId} group by idempotency_key`;
      expect(perKey.filter((row) => row.n !== 1)).toEqual([]);
      expect(new Set(perKey.map((row) => row.key))).toEqual(new Set(keys));
    } finally {
      await db.end();
    }
  });
});
