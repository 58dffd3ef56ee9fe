// Checkout and the portal through the real stripe SDK pointed at a local fake of Stripe's API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStripeClient, stripeConfigFromEnv } from '../../src/integrations/stripe.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startFakeStripe, type FakeStripe } from '../support/fake-stripe.js';
import { signUp, startTestServer, type TestServer, type TestUser } from '../support/server.js';

let database: TestDatabase;
let server: TestServer;
let bare: TestServer;
let fake: FakeStripe;
let owner: TestUser;

beforeAll(async () => {
  fake = await startFakeStripe();
  database = await createTestDatabase();
  const config = stripeConfigFromEnv({
    STRIPE_SECRET_KEY: 'sk_test_fake_0123456789',
    STRIPE_API_BASE: fake.url,
    STRIPE_PRICE_STARTER: 'price_starter_test',
    STRIPE_PRICE_CREDITS_100K: 'price_credits_test',
    BILLING_REDIRECT_ORIGINS: 'https://app.example.com',
  });
  server = await startTestServer({ db: database.db, stripe: { config, client: createStripeClient(config) } });
  bare = await startTestServer({ db: database.db, stripe: { config: stripeConfigFromEnv({}) } });
  owner = await signUp(database.db, 'checkout-owner@example.com');
});
afterAll(async () => {
  await server.close();
  await bare.close();
  await database.drop();
  await fake.close();
});

const as = (user: TestUser, on = server) => on.client({ accessToken: user.token });
const urls = { successUrl: 'https://app.example.com/billing?ok', cancelUrl: 'https://app.example.com/billing?no' };
const newOrg = async (name: string) => (await as(owner).POST('/v1/organizations', { body: { name } })).data!.data.id;

describe('createCheckoutSession', () => {
  it('creates one Stripe customer even for concurrent first checkouts, and tags every session', async () => {
    const orgId = await newOrg('Shopper');
    const before = fake.customersCreated();
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        as(owner).POST('/v1/organizations/{orgId}/billing/checkout', {
          params: { path: { orgId } },
          body: { kind: 'credit_pack', pack: 'credits-100k', quantity: 3, ...urls },
        }),
      ),
    );
    expect(results.map((r) => r.response.status)).toEqual([201, 201, 201, 201, 201]);
    expect(results[0]?.data?.data.url).toMatch(/^https:\/\/checkout\.stripe\.com\//);
    expect(fake.customersCreated() - before).toBe(1);
    const [row] = await database.db`select count(*)::int as n from staffroom.billing_customers where organization_id = ${orgId}`;
    expect(row?.n).toBe(1);
    const session = fake.requests.filter((r) => r.path === '/v1/checkout/sessions').at(-1)!.form;
    expect(session.get('client_reference_id')).toBe(orgId);
    expect(session.get('metadata[kind]')).toBe('credit_pack');
    expect(session.get('metadata[credits]')).toBe('300000');
    expect(session.get('line_items[0][quantity]')).toBe('3');
    expect(session.get('mode')).toBe('payment');
  });

  it('subscribes to a plan with the organization in the subscription metadata', async () => {
    const orgId = await newOrg('Planner');
    const { response } = await as(owner).POST('/v1/organizations/{orgId}/billing/checkout', {
      params: { path: { orgId } },
      body: { kind: 'plan', plan: 'starter', ...urls },
    });
    expect(response.status).toBe(201);
    const session = fake.requests.filter((r) => r.path === '/v1/checkout/sessions').at(-1)!.form;
    expect([session.get('mode'), session.get('metadata[plan]'), session.get('subscription_data[metadata][organization_id]')]).toEqual([
      'subscription',
      'starter',
      orgId,
    ]);
  });

  it('refuses to subscribe again to the live plan, naming the cause', async () => {
    const orgId = await newOrg('Subscribed');
    await database.db`insert into staffroom.subscriptions (organization_id, stripe_subscription_id, plan_id, status, last_event_created)
      values (${orgId}, ${`sub_${orgId}`}, 'starter', 'active', 1)`;
    const again = await as(owner).POST('/v1/organizations/{orgId}/billing/checkout', {
      params: { path: { orgId } },
      body: { kind: 'plan', plan: 'starter', ...urls },
    });
    expect(again.response.status).toBe(409);
    expect(again.error?.error.code).toBe('ALREADY_SUBSCRIBED');
    const credits = await as(owner).POST('/v1/organizations/{orgId}/billing/checkout', {
      params: { path: { orgId } },
      body: { kind: 'credit_pack', pack: 'credits-100k', ...urls },
    });
    expect(credits.response.status).toBe(201);
  });

  it("sends Stripe a key of the caller's own: another admin's same Idempotency-Key is another checkout", async () => {
    const orgId = await newOrg('Two buyers');
    const admin = await signUp(database.db, 'checkout-admin@example.com');
    await database.db`insert into staffroom.profiles (id, email) values (${admin.id}, ${admin.email})`;
    await database.db`insert into staffroom.memberships (organization_id, user_id, role) values (${orgId}, ${admin.id}, 'admin')`;
    const key = `${crypto.randomUUID()}${'k'.repeat(219)}`;
    const sent: string[] = [];
    for (const buyer of [owner, admin]) {
      const { response } = await as(buyer).POST('/v1/organizations/{orgId}/billing/checkout', {
        params: { path: { orgId }, header: { 'Idempotency-Key': key } },
        body: { kind: 'credit_pack', pack: 'credits-100k', ...urls },
      });
      expect(response.status).toBe(201);
      expect(response.headers.get('idempotent-replayed')).toBeNull();
      sent.push(fake.requests.filter((r) => r.path === '/v1/checkout/sessions').at(-1)!.idempotencyKey!);
    }
    expect(new Set(sent).size).toBe(2);
    for (const stripeKey of sent) {
      expect(stripeKey.length).toBeLessThanOrEqual(255);
      expect(stripeKey).not.toContain(key);
    }
  });

  it('refuses redirects to other origins, unsold items, and says which variable to set when Stripe is off', async () => {
    const orgId = await newOrg('Careful');
    const evil = await as(owner).POST('/v1/organizations/{orgId}/billing/checkout', {
      params: { path: { orgId } },
      body: { kind: 'plan', plan: 'starter', ...urls, successUrl: 'https://evil.example.net/' },
    });
    expect(evil.error?.error.details?.[0]?.field).toBe('body.successUrl');
    const pro = await as(owner).POST('/v1/organizations/{orgId}/billing/checkout', {
      params: { path: { orgId } },
      body: { kind: 'plan', plan: 'pro', ...urls },
    });
    expect(pro.response.status).toBe(503);
    expect(pro.error?.error.message).toContain('STRIPE_PRICE_PRO');
    const off = await as(owner, bare).POST('/v1/organizations/{orgId}/billing/checkout', {
      params: { path: { orgId } },
      body: { kind: 'plan', plan: 'starter', ...urls },
    });
    expect(off.response.status).toBe(503);
    expect(off.error?.error.message).toContain('STRIPE_SECRET_KEY');
    expect(
      (await as(owner, bare).GET('/v1/organizations/{orgId}/billing', { params: { path: { orgId } } })).data?.data.stripeConfigured,
    ).toBe(false);
  });
});

describe('createPortalSession', () => {
  it('needs a customer first, then opens the portal', async () => {
    const orgId = await newOrg('Portal');
    const none = await as(owner).POST('/v1/organizations/{orgId}/billing/portal', {
      params: { path: { orgId } },
      body: { returnUrl: 'https://app.example.com/billing' },
    });
    expect(none.response.status).toBe(409);
    expect(none.error?.error.code).toBe('NO_BILLING_ACCOUNT');
    await as(owner).POST('/v1/organizations/{orgId}/billing/checkout', {
      params: { path: { orgId } },
      body: { kind: 'credit_pack', pack: 'credits-100k', ...urls },
    });
    const portal = await as(owner).POST('/v1/organizations/{orgId}/billing/portal', {
      params: { path: { orgId } },
      body: { returnUrl: 'https://app.example.com/billing' },
    });
    expect(portal.response.status).toBe(201);
    expect(portal.data?.data.url).toMatch(/^https:\/\/billing\.stripe\.com\//);
  });
});
