// One organization's endpoint that never answers must not delay another organization's webhooks: each endpoint
// has at most one delivery in flight, and each delivery finishes on its own.
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createWebhookDispatcher } from '../../src/services/webhook-dispatcher.js';
import { createWorker } from '../../src/services/worker.js';
import { useTestApp } from '../support/app.js';
import { setPlan } from '../support/database.js';
import { signUp, type TestUser } from '../support/server.js';

const app = useTestApp({ allowPrivateWebhookUrls: true });
const timeoutMs = 10_000;

interface Org {
  user: TestUser;
  orgId: string;
  employeeId: string;
}

/** A receiver that records each request and answers 204 at once, or never when `hang`. */
async function startReceiver(hang: boolean) {
  const received: { at: number; body: string }[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push({ at: Date.now(), body });
      if (!hang) res.writeHead(204).end();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const client = (org: Org) => app.server.client({ accessToken: org.user.token });
const runTasks = () =>
  createWorker({ db: app.database.db, providers: { offline: createOfflineProvider() }, log: pino({ level: 'silent' }) }).drain();

async function setUp(email: string, name: string): Promise<Org> {
  const user = await signUp(app.database.db, email);
  const c = app.server.client({ accessToken: user.token });
  const orgId = (await c.POST('/v1/organizations', { body: { name } })).data!.data.id;
  await setPlan(app.database.db, orgId, 'pro');
  const employeeId = (
    await c.POST('/v1/organizations/{orgId}/employees', {
      params: { path: { orgId } },
      body: { name: 'Reporter', instructions: 'Report.' },
    })
  ).data!.data.id;
  return { user, orgId, employeeId };
}

async function register(org: Org, url: string) {
  const created = await client(org).POST('/v1/organizations/{orgId}/webhook-endpoints', {
    params: { path: { orgId: org.orgId } },
    body: { url, eventTypes: ['task.succeeded'] },
  });
  expect(created.response.status, JSON.stringify(created.error)).toBe(201);
}

async function queueTask(org: Org, input: string): Promise<string> {
  const created = await client(org).POST('/v1/organizations/{orgId}/tasks', {
    params: { path: { orgId: org.orgId } },
    body: { employeeId: org.employeeId, input },
  });
  return created.data!.data.id;
}

async function until(condition: () => boolean, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

let stuck: Org;
let healthy: Org;
let hanging: Awaited<ReturnType<typeof startReceiver>>;
let answering: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  stuck = await setUp('stuck-owner@example.com', 'Stuck');
  healthy = await setUp('healthy-owner@example.com', 'Healthy');
  hanging = await startReceiver(true);
  answering = await startReceiver(false);
  await register(stuck, hanging.url);
  await register(healthy, answering.url);
});
afterAll(async () => {
  await hanging?.close();
  await answering?.close();
});

describe('a webhook endpoint that never answers', () => {
  it("holds only its own deliveries: another organization's arrives at once, long before the hung one times out", async () => {
    for (let i = 0; i < 6; i++) await queueTask(stuck, `Report ${i}.`);
    await runTasks();
    const dispatcher = createWebhookDispatcher({
      db: app.database.db,
      log: pino({ level: 'silent' }),
      allowPrivate: true,
      timeoutMs,
      pollMs: 60_000,
    });
    dispatcher.start();
    try {
      await until(() => hanging.received.length > 0, 5_000);
      expect(hanging.received).toHaveLength(1);

      const taskId = await queueTask(healthy, 'Report now.');
      await runTasks();
      const eventAt = Date.now();
      await until(() => answering.received.length > 0, timeoutMs);
      expect(answering.received).toHaveLength(1);
      // Well within the hung delivery's time limit, which a shared round would have waited out.
      expect(answering.received[0]!.at - eventAt).toBeLessThan(timeoutMs / 2);
      expect(JSON.parse(answering.received[0]!.body)).toMatchObject({ type: 'task.succeeded', data: { taskId } });
      // One delivery at a time to the endpoint that hangs: the other five wait for it, not for anyone else.
      expect(hanging.received).toHaveLength(1);
    } finally {
      // Stop claiming first, then end the hung request so that the delivery in flight finishes.
      const stopped = dispatcher.stop();
      await hanging.close();
      await stopped;
    }
  });
});
