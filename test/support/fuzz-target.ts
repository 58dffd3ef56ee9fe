// What the fuzzer runs against: the fixture it builds over HTTP with a user's token, the Stripe settings of an
// in-process app, and the repairs that keep the fixture usable while requests delete and restore things.
import { createStripeClient, stripeConfigFromEnv, type StripeConfig } from '../../src/integrations/stripe.js';
import type { AppDeps } from '../../src/kernel/context.js';
import { mintAccessToken } from '../../src/services/identity.js';
import type { Db } from '../../src/db/client.js';
import type { FuzzFixture, FuzzRequest } from './fuzz.js';
import type { FuzzResponse } from './fuzz-run.js';
import { signUp, testJwtSecret } from './server.js';
import { signed, stripeEvent, stripeObject, webhookSecret } from './stripe-events.js';

export const fuzzRedirectOrigin = 'https://app.example.com';

/** Where the fixture's webhook endpoint points: a public name, never sent to in process (no dispatcher runs there). */
const fuzzWebhookUrl = 'https://example.com/staffroom-fuzz-hooks';

/** Webhook URL names resolved in process without DNS: every name to one public address. */
export const fuzzResolveWebhookHost = async (): Promise<string[]> => ['93.184.215.14'];

/** Checkout, the portal (against a local fake of Stripe) and webhooks all configured. */
export function fuzzStripe(fakeStripeUrl: string): NonNullable<AppDeps['stripe']> {
  const config: StripeConfig = stripeConfigFromEnv({
    STRIPE_SECRET_KEY: 'sk_test_fake_0123456789',
    STRIPE_API_BASE: fakeStripeUrl,
    STRIPE_WEBHOOK_SECRET: webhookSecret,
    STRIPE_PRICE_STARTER: 'price_starter_test',
    STRIPE_PRICE_PRO: 'price_pro_test',
    STRIPE_PRICE_CREDITS_100K: 'price_credits_test',
    STRIPE_PRICE_CREDITS_1M: 'price_credits_1m_test',
    BILLING_REDIRECT_ORIGINS: fuzzRedirectOrigin,
  });
  return { config, client: createStripeClient(config) };
}

async function api<T>(baseUrl: string, token: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`fixture: ${method} ${path} answered ${response.status}: ${text}`);
  return (JSON.parse(text) as { data: T }).data;
}

/**
 * An organization owned by the token's user, with an employee, a task, a pending invitation, an API key to
 * name in paths and another to call with, and a webhook endpoint; with a member's token, that member joins and
 * is the `userId`.
 */
export async function buildFixture(
  baseUrl: string,
  owner: { token: string },
  extras: {
    member?: { token: string; email: string };
    credentials?: Partial<FuzzFixture['credentials']>;
    stripeWebhookSecret?: string;
  } = {},
): Promise<FuzzFixture> {
  const call = <T>(method: string, path: string, body?: unknown) => api<T>(baseUrl, owner.token, method, path, body);
  const me = (await call<{ profile: { id: string } }>('GET', '/v1/me')).profile;
  const models = await call<{ id: string }[]>('GET', '/v1/models');
  const org = await call<{ id: string }>('POST', '/v1/organizations', { name: `Fuzz ${Date.now()}` });
  const orgPath = `/v1/organizations/${org.id}`;
  if (extras.stripeWebhookSecret) await upgradeToPro(baseUrl, org.id, extras.stripeWebhookSecret);
  const employee = await call<{ id: string }>('POST', `${orgPath}/employees`, {
    name: 'Fuzz target',
    instructions: 'Answer briefly.',
    maxOutputTokens: 64,
  });
  const task = await call<{ id: string }>('POST', `${orgPath}/tasks`, { employeeId: employee.id, input: 'Say hello.' });
  let userId = me.id;
  if (extras.member) {
    const invited = await call<{ token: string }>('POST', `${orgPath}/invitations`, { email: extras.member.email, role: 'member' });
    await api(baseUrl, extras.member.token, 'POST', '/v1/invitations/accept', { token: invited.token });
    userId = (await api<{ profile: { id: string } }>(baseUrl, extras.member.token, 'GET', '/v1/me')).profile.id;
  }
  const invitation = await call<{ id: string; token: string }>('POST', `${orgPath}/invitations`, {
    email: `invitee-${Date.now()}@example.com`,
  });
  const key = await call<{ id: string }>('POST', `${orgPath}/api-keys`, { name: 'Fuzz target key' });
  const credential = await call<{ secret: string }>('POST', `${orgPath}/api-keys`, { name: 'Fuzz credential' });
  const endpoint = await createFixtureEndpoint(baseUrl, owner.token, org.id);
  return {
    ids: {
      orgId: org.id,
      employeeId: employee.id,
      taskId: task.id,
      userId,
      invitationId: invitation.id,
      keyId: key.id,
      endpointId: endpoint.id,
    },
    invitationToken: invitation.token,
    modelIds: models.map((m) => m.id),
    redirectOrigin: fuzzRedirectOrigin,
    credentials: { token: owner.token, apiKey: credential.secret, ...extras.credentials },
    stripeWebhookSecret: extras.stripeWebhookSecret,
    stripePrices: ['price_starter_test', 'price_pro_test', 'price_credits_test'],
  };
}

/** The fixture's webhook endpoint, subscribed to one event type (requests change it as they like). */
function createFixtureEndpoint(baseUrl: string, token: string, orgId: string): Promise<{ id: string }> {
  return api<{ id: string }>(baseUrl, token, 'POST', `/v1/organizations/${orgId}/webhook-endpoints`, {
    url: fuzzWebhookUrl,
    eventTypes: ['task.succeeded'],
    description: 'Fuzz target endpoint',
  });
}

/**
 * The Pro plan, so that the free plan's limits do not answer 409 to most creations. Its event is dated as late
 * as Stripe's `created` can be, so the subscription events the fuzzer sends leave the plan alone.
 */
async function upgradeToPro(baseUrl: string, orgId: string, secret: string): Promise<void> {
  const periodEnd = Math.floor(Date.now() / 1000) + 30 * 86_400;
  const subscription = {
    ...stripeObject('subscription'),
    id: 'sub_fuzz_fixture',
    status: 'active',
    metadata: { organization_id: orgId },
    items: { data: [{ price: { id: 'price_pro_test' }, current_period_end: periodEnd }] },
  };
  const { body, signature } = signed(
    stripeEvent('customer.subscription.updated', subscription, { created: Number.MAX_SAFE_INTEGER }),
    secret,
  );
  const response = await fetch(`${baseUrl}/v1/webhooks/stripe`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signature },
    body,
  });
  if (!response.ok) throw new Error(`fixture: the Pro plan upgrade answered ${response.status}: ${await response.text()}`);
}

/** Users for an in-process run: the owner, a member, an outsider, and tokens of every wrong kind. */
export async function fuzzUsers(db: Db): Promise<{
  owner: { token: string };
  member: { token: string; email: string };
  credentials: Partial<FuzzFixture['credentials']>;
}> {
  const owner = await signUp(db, 'fuzz-owner@example.com', { name: 'Fuzz Owner' });
  const member = await signUp(db, 'fuzz-member@example.com');
  const outsider = await signUp(db, 'fuzz-outsider@example.com');
  const mint = (options: Partial<Parameters<typeof mintAccessToken>[0]>) =>
    mintAccessToken({ secret: testJwtSecret, userId: owner.id, email: owner.email, ...options });
  return {
    owner,
    member,
    credentials: {
      outsiderToken: outsider.token,
      strangerToken: await mint({ userId: crypto.randomUUID(), email: 'nobody@example.com' }),
      expiredToken: await mint({ expiresIn: Math.floor(Date.now() / 1000) - 3600 }),
      wrongAudienceToken: await mint({ audience: 'anon' }),
    },
  };
}

/**
 * After a request deleted the fixture's organization or employee, restore it, after one removed the member,
 * invite them again, and after one deleted the webhook endpoint, make another, so that later requests still reach them.
 */
export function fixtureRepair(
  baseUrl: string,
  fixture: FuzzFixture,
  member?: { token: string; email: string },
): (request: FuzzRequest, response: FuzzResponse) => Promise<void> {
  const orgPath = `/v1/organizations/${fixture.ids.orgId}`;
  const restore = async (path: string) => {
    await fetch(`${baseUrl}${path}/restore`, { method: 'POST', headers: { Authorization: `Bearer ${fixture.credentials.token}` } });
  };
  const rejoin = async (member: { token: string; email: string }) => {
    const invited = await api<{ token: string }>(baseUrl, fixture.credentials.token, 'POST', `${orgPath}/invitations`, {
      email: member.email,
    });
    await api(baseUrl, member.token, 'POST', '/v1/invitations/accept', { token: invited.token });
  };
  return async (request, response) => {
    if (response.status >= 300 || request.method !== 'DELETE') return;
    // The operation routed to, not the one generated: a path like `.../members/%2e%2e` deletes the organization.
    const routed = request.route?.operationId;
    try {
      if (routed === 'deleteOrganization' && request.url.includes(fixture.ids.orgId)) await restore(orgPath);
      if (routed === 'deleteEmployee' && request.url.includes(fixture.ids.employeeId))
        await restore(`${orgPath}/employees/${fixture.ids.employeeId}`);
      if (routed === 'removeMember' && member && request.url.includes(fixture.ids.userId) && request.url.includes(fixture.ids.orgId))
        await rejoin(member);
      if (routed === 'deleteWebhookEndpoint' && request.url.includes(fixture.ids.endpointId))
        fixture.ids.endpointId = (await createFixtureEndpoint(baseUrl, fixture.credentials.token, fixture.ids.orgId)).id;
    } catch {
      // Best effort: a fixture left broken only narrows what later requests reach; the responses are still checked.
    }
  };
}
