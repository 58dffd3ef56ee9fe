// `kill -9` of npm start while clients create tasks: after a restart no accepted task is lost, none stays
// queued or running past its lease, and every organization's ledger adds up to its balance.
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

const startServer = () => startLocalServer({ dataDir, port, env: { ...process.env, TASK_LEASE_MS: '2000' } });
const stopServer = stopChildProcess;

function database(): Db {
  const { port: pgPort } = runningPostmaster(join(dataDir, 'pg'))!;
  return connect(`postgres://postgres:${encodeURIComponent(loadLocalSecrets(dataDir).databasePassword)}@127.0.0.1:${pgPort}/postgres`, {
    max: 2,
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'staffroom-crash-'));
  chmodSync(dataDir, 0o755); // the cluster runs unprivileged when the tests run as root
  port = await freePort();
  server = await startServer();
}, 90_000);
afterAll(async () => {
  await stopServer(server, 'SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start killed while tasks are created', () => {
  it('loses no accepted task and keeps every ledger equal to its balance', { timeout: 120_000 }, async () => {
    const userId = crypto.randomUUID();
    let db = database();
    await db`insert into auth.users (id, email) values (${userId}, 'crash@example.com')`;
    await db.end();
    const token = await mintAccessToken({
      secret: loadLocalSecrets(dataDir).jwtSecret,
      userId,
      email: 'crash@example.com',
      issuer: localIssuer,
    });
    const call = async (path: string, body: unknown) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as { data: { id: string } } };
    };
    const orgId = (await call('/v1/organizations', { name: 'Crash' })).body.data.id;
    const employeeId = (
      await call(`/v1/organizations/${orgId}/employees`, { name: 'Worker', instructions: 'Answer.', maxOutputTokens: 16 })
    ).body.data.id;

    const accepted: string[] = [];
    const creating = Array.from({ length: 40 }, async (_, i) => {
      await new Promise((resolveDelay) => setTimeout(resolveDelay, i * 10));
      const created = await call(`/v1/organizations/${orgId}/tasks`, { employeeId, input: `Task ${i}` }).catch(() => undefined);
      if (created?.status === 202) accepted.push(created.body.data.id);
    });
    // Killed in the middle: some tasks accepted, some in flight, some not yet sent.
    for (let waited = 0; accepted.length < 10 && waited < 10_000; waited += 5)
      await new Promise((resolveDelay) => setTimeout(resolveDelay, 5));
    await stopServer(server, 'SIGKILL');
    await Promise.all(creating);
    server = await startServer();

    db = database();
    try {
      // Everything settles within a lease or two: poll, bounded.
      for (let i = 0; i < 100; i++) {
        const [open] = await db`select count(*)::int as n from staffroom.tasks where status in ('queued', 'running')`;
        if (open!.n === 0) break;
        await new Promise((resolveDelay) => setTimeout(resolveDelay, 200));
      }
      const tasks = await db<{ id: string; status: string; cost: number; moved: number }[]>`
        select t.id, t.status, coalesce(t.cost_credits, 0)::int as cost,
               (select coalesce(sum(l.amount), 0)::int from staffroom.credit_ledger l where l.reference = 'task:' || t.id) as moved
        from staffroom.tasks t where t.organization_id = ${orgId}`;
      const byId = new Map(tasks.map((t) => [t.id, t]));
      expect(accepted.filter((id) => !byId.has(id))).toEqual([]);
      expect(tasks.filter((t) => !['succeeded', 'failed', 'canceled'].includes(t.status))).toEqual([]);
      // A finished task's reservation came back and its cost went out: what moved is exactly its cost.
      expect(tasks.filter((t) => t.moved !== -t.cost)).toEqual([]);
      const books = await db<{ org: string; ledger: number; available: number }[]>`
        select a.organization_id as org, a.available::int as available,
               (select coalesce(sum(l.amount), 0)::int from staffroom.credit_ledger l where l.organization_id = a.organization_id) as ledger
        from staffroom.credit_accounts a`;
      expect(books.filter((b) => b.ledger !== b.available)).toEqual([]);
    } finally {
      await db.end();
    }
  });
});
