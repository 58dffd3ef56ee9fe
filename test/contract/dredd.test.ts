// dredd replays the contract's examples against the running service: every implemented operation's
// documented success response must come back with the documented status, headers and body shape.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, setPlan, type TestDatabase } from '../support/database.js';
import { signUp, startTestServer, type TestServer } from '../support/server.js';
import { pino } from 'pino';
import type { StaffroomClient } from '../../sdk/index.js';
import { createOfflineProvider } from '../../src/integrations/llm/offline.js';
import { createWorker } from '../../src/services/worker.js';
import { createStripeClient, stripeConfigFromEnv } from '../../src/integrations/stripe.js';
import { startFakeStripe, type FakeStripe } from '../support/fake-stripe.js';
import { webhookSecret } from '../support/stripe-events.js';
import { require, runNodeProcess } from '../support/processes.js';

let database: TestDatabase;
let server: TestServer;
let fixture: Record<string, unknown>;
let fakeStripe: FakeStripe;
beforeAll(async () => {
  database = await createTestDatabase();
  fakeStripe = await startFakeStripe();
  const stripe = stripeConfigFromEnv({
    STRIPE_SECRET_KEY: 'sk_test_fake_0123456789',
    STRIPE_API_BASE: fakeStripe.url,
    STRIPE_WEBHOOK_SECRET: webhookSecret,
    STRIPE_PRICE_STARTER: 'price_starter_test',
    STRIPE_PRICE_CREDITS_100K: 'price_credits_test',
    BILLING_REDIRECT_ORIGINS: 'https://app.example.com',
  });
  // Webhook endpoints point at a local address, which only a deployment for local development allows. Rate limits
  // and an allowed browser origin (the hooks send it) are on, so that the RateLimit and CORS headers each success
  // response declares are there for dredd to find.
  server = await startTestServer({
    db: database.db,
    stripe: { config: stripe, client: createStripeClient(stripe) },
    allowPrivateWebhookUrls: true,
    rateLimits: true,
    corsOrigins: ['https://app.example.com'],
  });
  const user = await signUp(database.db, 'dredd@example.com');
  const org = await server.client({ accessToken: user.token }).POST('/v1/organizations', { body: { name: 'Dredd fixture' } });
  const orgId = org.data!.data.id;
  // Every creating transaction adds an employee: the pro plan has room for all of them.
  await setPlan(database.db, orgId, 'pro');
  // A second member for the member operations (a factory row, as an accepted invitation would leave).
  const member = await signUp(database.db, 'dredd-member@example.com');
  await database.db`insert into staffroom.profiles (id, email) values (${member.id}, ${member.email})`;
  await database.db`insert into staffroom.memberships (organization_id, user_id, role) values (${orgId}, ${member.id}, 'member')`;
  const client = server.client({ accessToken: user.token });
  const invitation = await client.POST('/v1/organizations/{orgId}/invitations', {
    params: { path: { orgId } },
    body: { email: 'dredd-later@example.com' },
  });
  const key = await client.POST('/v1/organizations/{orgId}/api-keys', { params: { path: { orgId } }, body: { name: 'dredd' } });
  const employee = await client.POST('/v1/organizations/{orgId}/employees', {
    params: { path: { orgId } },
    body: { name: 'Dredd employee', instructions: 'Answer briefly.' },
  });
  // An invitation for the dredd user into someone else's organization, for acceptInvitation.
  const host = await signUp(database.db, 'dredd-host@example.com');
  const hostClient = server.client({ accessToken: host.token });
  const hostOrg = await hostClient.POST('/v1/organizations', { body: { name: 'Dredd host' } });
  const forUser = await hostClient.POST('/v1/organizations/{orgId}/invitations', {
    params: { path: { orgId: hostOrg.data!.data.id } },
    body: { email: user.email },
  });
  // putOrganizationTool's 200 replaces a tool that exists (its 201 defines a new one).
  await client.PUT('/v1/organizations/{orgId}/tools/{toolName}', {
    params: { path: { orgId, toolName: 'mcp__github__create_issue' } },
    body: {
      description: 'Opens an issue.',
      inputSchema: {
        type: 'object',
        required: ['repo', 'title'],
        properties: { repo: { type: 'string' }, title: { type: 'string' }, body: { type: 'string' } },
      },
    },
  });
  const waiting = await waitingTaskElsewhere(client);
  // Endpoints for the webhook operations (one to delete), registered before the fixture task runs, so that its
  // task.succeeded is a delivery to list and send again.
  const webhookUrl = 'http://127.0.0.1:9/hooks';
  const endpoint = async () =>
    (
      await client.POST('/v1/organizations/{orgId}/webhook-endpoints', {
        params: { path: { orgId } },
        body: { url: webhookUrl, eventTypes: ['task.succeeded', 'task.failed'] },
      })
    ).data!.data.id;
  const [endpointId, doomedEndpointId] = [await endpoint(), await endpoint()];
  fixture = {
    token: user.token,
    orgId,
    userId: member.id,
    invitationId: invitation.data!.data.id,
    keyId: key.data!.data.id,
    employeeId: employee.data!.data.id,
    taskId: await finishedTask(client, orgId, employee.data!.data.id),
    endpointId,
    webhookUrl,
    // cancelTask needs a task that is still queued, in an organization whose task list dredd does not read;
    // submitToolOutputs one that waits for the outputs of its tool calls.
    overrides: {
      cancelTask: await queuedTaskElsewhere(client),
      submitToolOutputs: { orgId: waiting.orgId, taskId: waiting.taskId },
      deleteWebhookEndpoint: { endpointId: doomedEndpointId },
    } as never,
    toolOutputs: waiting.outputs,
    invitationToken: forUser.data!.data.token!,
    webhookSecret,
  };
  const deliveries = await client.GET('/v1/organizations/{orgId}/webhook-endpoints/{endpointId}/deliveries', {
    params: { path: { orgId, endpointId } },
  });
  fixture.deliveryId = deliveries.data!.data[0]!.id;
});
async function finishedTask(client: StaffroomClient, orgId: string, employeeId: string): Promise<string> {
  const task = await client.POST('/v1/organizations/{orgId}/tasks', {
    params: { path: { orgId } },
    body: { employeeId, input: 'Done for dredd.' },
  });
  await createWorker({ db: database.db, providers: { offline: createOfflineProvider() }, log: pino({ level: 'silent' }) }).drain();
  return task.data!.data.id;
}

/**
 * A task of the offline provider waiting for the output of the Read call its input asks for, in an organization
 * that dredd does not delete (deleting one cancels its waiting tasks).
 */
async function waitingTaskElsewhere(client: StaffroomClient): Promise<{ orgId: string; taskId: string; outputs: unknown[] }> {
  const orgId = (await client.POST('/v1/organizations', { body: { name: 'Dredd tools' } })).data!.data.id;
  await creditElsewhere(orgId);
  const employee = await client.POST('/v1/organizations/{orgId}/employees', {
    params: { path: { orgId } },
    body: { name: 'Dredd reader', instructions: 'Read.', tools: ['Read'] },
  });
  const task = await client.POST('/v1/organizations/{orgId}/tasks', {
    params: { path: { orgId } },
    body: { employeeId: employee.data!.data.id, input: '@Read NOTES.md', toolUse: 'client' },
  });
  await createWorker({ db: database.db, providers: { offline: createOfflineProvider() }, log: pino({ level: 'silent' }) }).drain();
  const waiting = (
    await client.GET('/v1/organizations/{orgId}/tasks/{taskId}', { params: { path: { orgId, taskId: task.data!.data.id } } })
  ).data!.data;
  if (waiting.status !== 'requires_action') throw new Error(`the fixture task is ${waiting.status}`);
  return {
    orgId,
    taskId: waiting.id,
    outputs: waiting.pendingToolCalls!.map((call) => ({ toolCallId: call.id, output: 'The deploy runs at 09:00.' })),
  };
}

/** Only a person's first organization has the free credits: the dredd user's others get as many from the ledger. */
const creditElsewhere = (orgId: string) =>
  database.db`select staffroom.move_credits(${orgId}, 'adjustment', 10000, 'test:credits', null, 'Test balance')`;

async function queuedTaskElsewhere(client: StaffroomClient): Promise<{ orgId: string; taskId: string }> {
  const org = (await client.POST('/v1/organizations', { body: { name: 'Dredd queue' } })).data!.data.id;
  await creditElsewhere(org);
  const employee = await client.POST('/v1/organizations/{orgId}/employees', {
    params: { path: { orgId: org } },
    body: { name: 'Idle', instructions: 'Wait.' },
  });
  const task = await client.POST('/v1/organizations/{orgId}/tasks', {
    params: { path: { orgId: org } },
    body: { employeeId: employee.data!.data.id, input: 'Cancel me.' },
  });
  return { orgId: org, taskId: task.data!.data.id };
}

afterAll(async () => {
  await server.close();
  await database.drop();
  await fakeStripe.close();
});

const record = join(mkdtempSync(join(tmpdir(), 'dredd-')), 'transactions.jsonl');
const contract = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../src/generated/openapi.json'), 'utf8')) as {
  paths: Record<string, unknown>;
};
// Every operation documents a success response, so each one must show up among dredd's transactions.
const operationCount = Object.values(contract.paths).flatMap((item) =>
  Object.values(item as Record<string, { operationId?: string }>).filter((op) => op?.operationId),
).length;

describe('dredd', () => {
  // Dredd runs well over a hundred transactions in a process of its own: 20 s on an idle machine, more beside
  // the other test files.
  it('passes every transaction, and exercises every documented success response', { timeout: 120_000 }, async () => {
    const { code, output } = await runNodeProcess(
      require.resolve('dredd/bin/dredd'),
      [
        resolve(import.meta.dirname, '../../src/generated/openapi.json'),
        server.baseUrl,
        `--hookfiles=${resolve(import.meta.dirname, 'dredd-hooks.cjs')}`,
        '--loglevel=warning',
        '--color=false',
      ],
      { env: { DREDD_FIXTURE: JSON.stringify(fixture), DREDD_RECORD: record } },
    );
    const summary = /complete: (\d+) passing, (\d+) failing, (\d+) errors, (\d+) skipped/.exec(output);
    expect(summary, output).not.toBeNull();
    const [, , failing, errors] = summary!.map(Number);
    expect({ failing, errors, code }, output).toEqual({ failing: 0, errors: 0, code: 0 });
    // Every success response the contract documents was exercised and passed: the check cannot go quiet.
    const ran = readFileSync(record, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { operationId: string; status: number; result: string });
    const passed = new Set(ran.filter((t) => t.result === 'pass').map((t) => `${t.operationId} ${t.status}`));
    const documented = Object.values(contract.paths).flatMap((item) =>
      Object.values(item as Record<string, { operationId?: string; responses?: Record<string, unknown> }>).flatMap((op) =>
        op?.operationId
          ? Object.keys(op.responses ?? {})
              .filter((s) => /^2\d\d$/.test(s))
              .map((s) => `${op.operationId} ${s}`)
          : [],
      ),
    );
    expect(new Set(documented.map((response) => response.split(' ')[0])).size).toBe(operationCount);
    expect(
      documented.filter((response) => !passed.has(response)),
      output,
    ).toEqual([]);
  });
});
