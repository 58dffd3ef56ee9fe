// When the database is down, saturated or slow, requests answer 503 UNAVAILABLE with Retry-After instead of
// hanging or answering 500, and a transaction given up on never commits afterwards.
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, DatabaseUnavailableError, maxWaiting, statementTimeoutMs, withService, withUser, type Tx } from '../../src/db/client.js';
import { freePort } from '../support/processes.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { signUp, startTestServer, type TestServer, type TestUser } from '../support/server.js';

let database: TestDatabase;
let user: TestUser;
let orgId: string;
// Accepts connections and never answers: a database host that hangs.
let blackhole: Server;
const sockets = new Set<Socket>();

beforeAll(async () => {
  database = await createTestDatabase();
  user = await signUp(database.db, 'faults@example.com');
  const healthy = await startTestServer({ db: database.db });
  orgId = (await healthy.client({ accessToken: user.token }).POST('/v1/organizations', { body: { name: 'Faults' } })).data!.data.id;
  await healthy.close();
  blackhole = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  }).listen(0, '127.0.0.1');
  await new Promise((resolve) => blackhole.once('listening', resolve));
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => blackhole.close(resolve));
  await database.drop();
});

const ledger = async () =>
  (
    await database.db<{ entries: number; available: number }[]>`
    select (select count(*)::int from staffroom.credit_ledger where organization_id = ${orgId}) as entries,
           (select available::int from staffroom.credit_accounts where organization_id = ${orgId}) as available`
  )[0]!;

async function expectUnavailable(server: TestServer): Promise<void> {
  const client = server.client({ accessToken: user.token });
  for (const call of [
    () => client.GET('/v1/organizations/{orgId}', { params: { path: { orgId } } }),
    () => client.POST('/v1/organizations', { body: { name: 'Never' } }),
  ]) {
    const { response, error } = await call();
    expect(response.status).toBe(503);
    expect(error?.error.code).toBe('UNAVAILABLE');
    expect(response.headers.get('retry-after')).toBe('2');
  }
  const health = await server.client().GET('/v1/health');
  expect(health.data?.data).toMatchObject({ status: 'degraded', database: { status: 'unreachable' } });
}

describe('a database that cannot serve', () => {
  it('answers 503 with Retry-After when nothing listens, and health says degraded', { timeout: 10_000 }, async () => {
    const refused = connect(`postgres://postgres:x@127.0.0.1:${await freePort()}/none`, { max: 2 });
    const server = await startTestServer({ db: refused });
    try {
      await expectUnavailable(server);
    } finally {
      await server.close();
      await refused.end({ timeout: 1 });
    }
  });

  it('answers 503 when the host accepts connections and never answers', { timeout: 10_000 }, async () => {
    const hanging = connect(`postgres://postgres:x@127.0.0.1:${(blackhole.address() as AddressInfo).port}/none`, { max: 2 });
    const server = await startTestServer({ db: hanging });
    try {
      await expectUnavailable(server);
    } finally {
      await server.close();
      await hanging.end({ timeout: 0 });
    }
  });
});

describe('every transaction', () => {
  it('bounds its statements', async () => {
    const service = await withService(database.db, 'a test of the statement timeout', (tx) => tx`show statement_timeout`);
    const asUser = await withUser(
      database.db,
      { sub: user.id, email: user.email, role: 'authenticated' },
      (tx) => tx`show statement_timeout`,
    );
    expect([service[0]?.statement_timeout, asUser[0]?.statement_timeout]).toEqual([
      `${statementTimeoutMs / 1000}s`,
      `${statementTimeoutMs / 1000}s`,
    ]);
  });
});

describe('the queue for connections', () => {
  it('is bounded: past maxWaiting, a transaction is refused at once', { timeout: 10_000 }, async () => {
    const hanging = connect(`postgres://postgres:x@127.0.0.1:${(blackhole.address() as AddressInfo).port}/none`, { max: 1 });
    try {
      const attempts = Array.from({ length: maxWaiting + 20 }, () =>
        withService(hanging, 'a test of the queue bound', (tx) => tx`select 1`).then(
          () => 'ran',
          (error: Error) => error.message,
        ),
      );
      const outcomes = await Promise.all(attempts);
      expect(outcomes.filter((message) => message.includes('already wait'))).toHaveLength(20);
      expect(outcomes.filter((message) => message.includes('no database connection within'))).toHaveLength(maxWaiting);
    } finally {
      await hanging.end({ timeout: 0 });
    }
  });
});

describe('a transaction given up on', () => {
  const grant = (tx: Tx, reference: string) => tx`select staffroom.move_credits(${orgId}, 'adjustment', 5, ${reference}, null, 'test')`;

  it('rolls back when its deadline passes while it works', async () => {
    const before = await ledger();
    const late = withService(
      database.db,
      'a test of the deadline',
      async (tx) => {
        await grant(tx, `late:${crypto.randomUUID()}`);
        await new Promise((resolve) => setTimeout(resolve, 300));
      },
      { deadline: Date.now() + 100 },
    );
    await expect(late).rejects.toBeInstanceOf(DatabaseUnavailableError);
    await new Promise((resolve) => setTimeout(resolve, 400)); // the work has finished by now
    expect(await ledger()).toEqual(before);
  });

  it('never runs when it only gets a connection after it was given up on', { timeout: 10_000 }, async () => {
    const small = connect(database.url, { max: 1 });
    try {
      const before = await ledger();
      let release!: () => void;
      const held = withService(small, 'holds the only connection', () => new Promise<void>((resolve) => (release = resolve)));
      const reference = `queued:${crypto.randomUUID()}`;
      const queued = withService(small, 'waits for a connection', (tx) => grant(tx, reference));
      await expect(queued).rejects.toBeInstanceOf(DatabaseUnavailableError);
      release();
      await held;
      // The queued transaction now gets the connection, and must roll back rather than grant.
      await withService(small, 'runs after it', (tx) => tx`select 1`);
      expect(await ledger()).toEqual(before);
    } finally {
      await small.end({ timeout: 1 });
    }
  });
});
