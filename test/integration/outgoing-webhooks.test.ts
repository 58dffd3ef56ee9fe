// Outgoing webhooks end to end: an endpoint registered through the API, a task's events delivered to a local
// receiver that verifies each with the Standard Webhooks library, at least once through receiver failures and a
// restart of the sender, secret rotation, redelivery, disabling after sustained failure, and private addresses
// refused when the deployment does not allow them.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createWebhookDispatcher, type DispatcherOptions } from '../../src/services/webhook-dispatcher.js';
import { createWorker } from '../../src/services/worker.js';
import { useTestApp } from '../support/app.js';
import { setPlan } from '../support/database.js';
import { signUp, startTestServer, type TestUser } from '../support/server.js';

const app = useTestApp({ allowPrivateWebhookUrls: true });
let owner: TestUser;
let member: TestUser;
let orgId: string;
let employeeId: string;

interface Delivery {
  id: string;
  headers: IncomingHttpHeaders;
  body: string;
  verified: boolean;
}

/** A receiver that verifies every request with the endpoint's secret; `answers` scripts its next statuses. */
async function startReceiver(secret: () => string) {
  const received: Delivery[] = [];
  const answers: number[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      let verified: boolean;
      try {
        new Webhook(secret()).verify(body, {
          'webhook-id': String(req.headers['webhook-id']),
          'webhook-timestamp': String(req.headers['webhook-timestamp']),
          'webhook-signature': String(req.headers['webhook-signature']),
        });
        verified = true;
      } catch {
        verified = false;
      }
      received.push({ id: String(req.headers['webhook-id']), headers: req.headers, body, verified });
      res.writeHead(answers.shift() ?? 204).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    answers,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const client = (user: TestUser = owner) => app.server.client({ accessToken: user.token });
const dispatcher = (options: Partial<DispatcherOptions> = {}) =>
  createWebhookDispatcher({
    db: app.database.db,
    log: pino({ level: 'silent' }),
    allowPrivate: true,
    retryDelaysMs: [20, 20, 20, 20],
    ...options,
  });
const runTasks = () =>
  createWorker({ db: app.database.db, providers: { offline: createOfflineProvider() }, log: pino({ level: 'silent' }) }).drain();
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function register(url: string, eventTypes: ('task.succeeded' | 'task.failed' | 'task.canceled')[] = ['task.succeeded']) {
  const created = await client().POST('/v1/organizations/{orgId}/webhook-endpoints', {
    params: { path: { orgId } },
    body: { url, eventTypes, description: 'Test receiver' },
  });
  expect(created.response.status, JSON.stringify(created.error)).toBe(201);
  return created.data!.data;
}

async function runTask(input: string): Promise<string> {
  const task = (await client().POST('/v1/organizations/{orgId}/tasks', { params: { path: { orgId } }, body: { employeeId, input } })).data!
    .data;
  await runTasks();
  return task.id;
}

beforeAll(async () => {
  owner = await signUp(app.database.db, 'hooks-owner@example.com');
  member = await signUp(app.database.db, 'hooks-member@example.com');
  orgId = (await client().POST('/v1/organizations', { body: { name: 'Hooked' } })).data!.data.id;
  await setPlan(app.database.db, orgId, 'pro');
  await app.database.db`insert into staffroom.profiles (id, email) values (${member.id}, ${member.email})`;
  await app.database.db`insert into staffroom.memberships (organization_id, user_id, role) values (${orgId}, ${member.id}, 'member')`;
  employeeId = (
    await client().POST('/v1/organizations/{orgId}/employees', {
      params: { path: { orgId } },
      body: { name: 'Reporter', instructions: 'Report.' },
    })
  ).data!.data.id;
});

describe('outgoing webhooks', () => {
  let secret = '';
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  afterAll(() => receiver?.close());

  it('delivers task.succeeded signed as Standard Webhooks, at least once through failures and a restart of the sender', async () => {
    receiver = await startReceiver(() => secret);
    const endpoint = await register(receiver.url);
    secret = endpoint.secret;
    expect(secret).toMatch(/^whsec_/);
    // The secret is shown once: reading the endpoint does not give it.
    const read = await client().GET('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}', {
      params: { path: { orgId, endpointId: endpoint.id } },
    });
    expect(read.data!.data).not.toHaveProperty('secret');

    receiver.answers.push(500, 503);
    const taskId = await runTask('Report the build.');
    // The first sender fails twice, then stops (a restart); a new one, later, delivers: the outbox kept it.
    const first = dispatcher();
    await first.drain();
    await wait(30);
    await first.drain();
    await first.stop();
    expect(receiver.received).toHaveLength(2);
    await wait(30);
    await dispatcher().drain();
    expect(receiver.received).toHaveLength(3);

    const ids = new Set(receiver.received.map((d) => d.id));
    expect(ids.size).toBe(1); // the same webhook-id on every attempt: receivers deduplicate on it
    expect(receiver.received.every((d) => d.verified)).toBe(true);
    const payload = JSON.parse(receiver.received[2]!.body) as {
      type: string;
      timestamp: string;
      data: { type: string; taskId: string; data: { status: string } };
    };
    expect(payload).toMatchObject({ type: 'task.succeeded', data: { type: 'task.succeeded', taskId, data: { status: 'succeeded' } } });
    expect(receiver.received[2]!.headers['user-agent']).toBe('Staffroom-Webhooks/1');

    const deliveries = await client().GET('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/deliveries', {
      params: { path: { orgId, endpointId: endpoint.id } },
    });
    expect(deliveries.data!.data[0]).toMatchObject({ status: 'delivered', attempts: 3, eventType: 'task.succeeded', lastStatusCode: 204 });
    expect(deliveries.data!.data[0]!.id).toBe([...ids][0]);
  });

  it('signs with a rotated secret from then on, and redelivers on request', async () => {
    const [endpoint] = (await client().GET('/v1/organizations/{orgId}/webhook-endpoints', { params: { path: { orgId } } })).data!.data;
    const rotated = await client().POST('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/rotate-secret', {
      params: { path: { orgId, endpointId: endpoint!.id } },
    });
    const old = secret;
    secret = rotated.data!.data.secret;
    expect(secret).not.toBe(old);
    const [delivered] = (
      await client().GET('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/deliveries', {
        params: { path: { orgId, endpointId: endpoint!.id } },
      })
    ).data!.data;
    const again = await client().POST('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/redeliver', {
      params: { path: { orgId, endpointId: endpoint!.id, deliveryId: delivered!.id } },
    });
    expect(again.response.status).toBe(202);
    expect(again.data!.data.status).toBe('pending');
    const before = receiver.received.length;
    await dispatcher().drain();
    expect(receiver.received).toHaveLength(before + 1);
    expect(receiver.received.at(-1)).toMatchObject({ id: delivered!.id, verified: true });
  });

  it('disables an endpoint whose deliveries keep failing, and sends nothing more to it', async () => {
    const failing = await startReceiver(() => 'whsec_unused0000000000');
    try {
      const endpoint = await register(failing.url, ['task.succeeded']);
      failing.answers.push(500, 500, 500, 500, 500);
      await runTask('Fail to report.');
      const sender = dispatcher({ disableAfterMs: 0 });
      await sender.drain();
      await wait(30);
      await sender.drain();
      const state = await client().GET('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}', {
        params: { path: { orgId, endpointId: endpoint.id } },
      });
      expect(state.data!.data).toMatchObject({ enabled: false, disabledReason: expect.stringContaining('failed') });
      const attempts = failing.received.length;
      await wait(30);
      await sender.drain();
      expect(failing.received).toHaveLength(attempts);
      const [pending] = (
        await client().GET('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/deliveries', {
          params: { path: { orgId, endpointId: endpoint.id } },
        })
      ).data!.data;
      const refused = await client().POST('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/redeliver', {
        params: { path: { orgId, endpointId: endpoint.id, deliveryId: pending!.id } },
      });
      expect(refused.error?.error.code).toBe('CONFLICT');
      await client().DELETE('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}', {
        params: { path: { orgId, endpointId: endpoint.id } },
      });
    } finally {
      await failing.close();
    }
  });

  it('refuses private addresses unless the deployment allows them, when registered and before sending', async () => {
    // Names under internal.example resolve to what their first label spells, as an internal DNS might answer.
    const internal: Record<string, string> = { bench: '198.18.0.1', doc: '192.0.2.1', nat64: '64:ff9b:1::a00:1', mapped: '::ffff:a00:1' };
    const strict = await startTestServer({
      db: app.database.db,
      resolveWebhookHost: async (name) => [internal[name.split('.')[0]!] ?? '93.184.215.14'],
    });
    try {
      const urls = [
        'http://127.0.0.1:9/hooks',
        'http://localhost/hooks',
        'http://169.254.169.254/latest',
        'http://10.1.2.3/',
        'http://198.18.0.1/',
        'http://[2002:a00:1::]/',
        ...Object.keys(internal).map((name) => `https://${name}.internal.example/hooks`),
      ];
      for (const url of urls) {
        const refused = await strict.client({ accessToken: owner.token }).POST('/v1/organizations/{orgId}/webhook-endpoints', {
          params: { path: { orgId } },
          body: { url, eventTypes: ['task.succeeded'] },
        });
        expect(refused.response.status, url).toBe(400);
        expect(refused.error?.error.details?.[0]?.field).toBe('body.url');
        // What a name resolved to stays unsaid, in the message and in the details.
        const name = new URL(url).hostname.split('.')[0]!;
        if (internal[name]) expect(JSON.stringify(refused.error), url).not.toContain(internal[name]);
      }
      const named = await strict.client({ accessToken: owner.token }).POST('/v1/organizations/{orgId}/webhook-endpoints', {
        params: { path: { orgId } },
        body: { url: 'https://bench.internal.example/hooks', eventTypes: ['task.succeeded'] },
      });
      expect(named.error?.error.details?.[0]?.message).toMatch(/bench\.internal\.example resolves to an address that is not public/);
    } finally {
      await strict.close();
    }
    // An endpoint that got in (registered where it was allowed) is still not sent to by a strict sender.
    const local = await startReceiver(() => secret);
    try {
      const endpoint = await register(local.url, ['task.failed', 'task.succeeded']);
      await runTask('Report privately.');
      await dispatcher({ allowPrivate: false }).drain();
      expect(local.received).toHaveLength(0);
      const [attempt] = (
        await client().GET('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/deliveries', {
          params: { path: { orgId, endpointId: endpoint.id } },
        })
      ).data!.data;
      expect(attempt).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: null });
      expect(attempt!.lastError).toMatch(/loopback/);
    } finally {
      await local.close();
    }
  });

  it('pauses and resumes an endpoint with `enabled` alone, keeping the fields a patch leaves out', async () => {
    // Nothing listens there, and no test here emits billing.updated: nothing is ever sent to it.
    const eventTypes: ('billing.updated' | 'credits.low')[] = ['billing.updated', 'credits.low'];
    const endpoint = (
      await client().POST('/v1/organizations/{orgId}/webhook-endpoints', {
        params: { path: { orgId } },
        body: { url: 'http://127.0.0.1:9/paused', eventTypes },
      })
    ).data!.data;
    const patch = (body: { enabled?: boolean; description?: string; url?: string }) =>
      client().PATCH('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}', {
        params: { path: { orgId, endpointId: endpoint.id } },
        body,
      });
    const paused = await patch({ enabled: false });
    expect(paused.response.status, JSON.stringify(paused.error)).toBe(200);
    expect(paused.data!.data).toMatchObject({ enabled: false, eventTypes, url: endpoint.url });
    const described = await patch({ description: 'Paused for maintenance' });
    expect(described.data!.data).toMatchObject({ enabled: false, description: 'Paused for maintenance', eventTypes });
    const resumed = await patch({ enabled: true });
    expect(resumed.data!.data).toMatchObject({ enabled: true, disabledReason: null, eventTypes });
    const empty = await patch({});
    expect(empty.response.status).toBe(400);
    await client().DELETE('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}', {
      params: { path: { orgId, endpointId: endpoint.id } },
    });
  });

  it('lets only owners and admins manage endpoints', async () => {
    const listed = await client(member).GET('/v1/organizations/{orgId}/webhook-endpoints', { params: { path: { orgId } } });
    expect(listed.response.status).toBe(403);
    const created = await client(member).POST('/v1/organizations/{orgId}/webhook-endpoints', {
      params: { path: { orgId } },
      body: { url: 'https://example.com/hooks', eventTypes: ['task.succeeded'] },
    });
    expect(created.response.status).toBe(403);
  });
});
