// Stripe webhooks: signed events shaped like Stripe's objects, applied exactly once, in order of creation.
import { describe, expect, it } from 'vitest';
import { stripeConfigFromEnv } from '../../src/integrations/stripe.js';
import { useTestApp } from '../support/app.js';
import { signUp, type TestUser } from '../support/server.js';
import { signed, stripeEvent, stripeObject, webhookSecret } from '../support/stripe-events.js';

const config = stripeConfigFromEnv({
  STRIPE_WEBHOOK_SECRET: webhookSecret,
  STRIPE_PRICE_STARTER: 'price_starter_test',
  STRIPE_PRICE_PRO: 'price_pro_test',
  STRIPE_PRICE_CREDITS_100K: 'price_credits_test',
});
const app = useTestApp({ stripe: { config } });
const owners = new Map<string, TestUser>();

const as = (user: TestUser) => app.server.client({ accessToken: user.token });
/** Each organization has an owner of its own: only a person's first organization gets the free credits. */
async function newOrg(name: string): Promise<string> {
  const owner = await signUp(app.database.db, `stripe-owner-${crypto.randomUUID()}@example.com`);
  const orgId = (await as(owner).POST('/v1/organizations', { body: { name } })).data!.data.id;
  owners.set(orgId, owner);
  return orgId;
}
const ownerOf = (orgId: string) => as(owners.get(orgId)!);
const billing = async (orgId: string) =>
  (await ownerOf(orgId).GET('/v1/organizations/{orgId}/billing', { params: { path: { orgId } } })).data!.data;

async function deliver(event: object, signature?: string) {
  const { body, signature: valid } = signed(event);
  const response = await fetch(`${app.server.baseUrl}/v1/webhooks/stripe`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signature ?? valid },
    body,
  });
  return { status: response.status, body: (await response.json()) as { data?: { duplicate: boolean }; error?: { code: string } } };
}

function creditPackSession(orgId: string, credits: number, paymentIntent = `pi_${crypto.randomUUID().slice(0, 8)}`) {
  return {
    ...stripeObject('checkout-session'),
    id: `cs_test_${crypto.randomUUID().slice(0, 12)}`,
    mode: 'payment',
    status: 'complete',
    payment_status: 'paid',
    client_reference_id: orgId,
    customer: 'cus_pack_buyer',
    payment_intent: paymentIntent,
    amount_total: 3000,
    metadata: { kind: 'credit_pack', credits: String(credits) },
  };
}

describe('receiveStripeWebhook', () => {
  it('applies a credit pack purchase once however often it is delivered', async () => {
    const orgId = await newOrg('Buyer');
    const event = stripeEvent('checkout.session.completed', creditPackSession(orgId, 300_000));
    const results = await Promise.all(Array.from({ length: 10 }, () => deliver(event)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(results.filter((r) => r.body.data?.duplicate === false)).toHaveLength(1);
    expect((await billing(orgId)).credits.available).toBe(10_000 + 300_000);
    const purchases = await app.database
      .db`select count(*)::int as n from staffroom.credit_ledger where organization_id = ${orgId} and kind = 'purchase'`;
    expect(purchases[0]?.n).toBe(1);
    // Its listeners and webhooks hear of it once, with the balance after it.
    const events = await ownerOf(orgId).GET('/v1/organizations/{orgId}/events', {
      params: { path: { orgId }, query: { type: 'billing.updated' } },
    });
    expect(events.data!.data.map((e) => e.data)).toEqual([{ planId: 'free', subscriptionStatus: 'none', credits: { available: 310_000 } }]);
  });

  it('refuses a forged or missing signature with 400 and writes nothing', async () => {
    const orgId = await newOrg('Forged');
    const event = stripeEvent('checkout.session.completed', creditPackSession(orgId, 1_000_000));
    const forged = signed(event, 'whsec_not_the_secret');
    const response = await deliver(event, forged.signature);
    expect(response.status).toBe(400);
    expect(response.body.error?.code).toBe('VALIDATION_ERROR');
    const missing = await fetch(`${app.server.baseUrl}/v1/webhooks/stripe`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(event),
    });
    expect(missing.status).toBe(400);
    const events = await app.database.db`select count(*)::int as n from staffroom.stripe_events where id = ${event.id}`;
    expect(events[0]?.n).toBe(0);
    expect((await billing(orgId)).credits.available).toBe(10_000);
  });

  it('keeps the newest subscription state when events arrive out of order', async () => {
    const orgId = await newOrg('Subscriber');
    const subscription = (status: string, price: string, end: number) => ({
      ...stripeObject('subscription'),
      id: 'sub_test_order',
      status,
      customer: `cus_${orgId.slice(0, 8)}`,
      cancel_at_period_end: false,
      metadata: { organization_id: orgId },
      items: {
        object: 'list',
        data: [
          { ...((stripeObject('subscription').items as { data: object[] }).data[0] ?? {}), price: { id: price }, current_period_end: end },
        ],
      },
    });
    const now = Math.floor(Date.now() / 1000);
    const newest = stripeEvent('customer.subscription.updated', subscription('active', 'price_pro_test', now + 30 * 86_400), {
      created: now + 10,
    });
    const older = stripeEvent('customer.subscription.created', subscription('incomplete', 'price_starter_test', now + 29 * 86_400), {
      created: now,
    });
    expect((await deliver(newest)).status).toBe(200);
    expect((await deliver(older)).status).toBe(200);
    const state = await billing(orgId);
    expect(state.planId).toBe('pro');
    expect(state.subscription.status).toBe('active');
    const canceled = stripeEvent('customer.subscription.deleted', subscription('canceled', 'price_pro_test', now + 30 * 86_400), {
      created: now + 20,
    });
    await deliver(canceled);
    expect(await billing(orgId)).toMatchObject({ planId: 'free', subscription: { status: 'canceled' } });
  });

  it('reads a status Stripe added later as unknown (free plan) and a period end beyond year 9999 as none', async () => {
    const orgId = await newOrg('Future');
    const item = (stripeObject('subscription').items as { data: object[] }).data[0] ?? {};
    const future = {
      ...stripeObject('subscription'),
      id: 'sub_test_future',
      status: 'hibernating',
      customer: `cus_${orgId.slice(0, 8)}`,
      metadata: { organization_id: orgId },
      current_period_end: 9_007_199_254_740_991,
      items: { object: 'list', data: [{ ...item, price: { id: 'price_pro_test' }, current_period_end: 1e15 }] },
    };
    expect((await deliver(stripeEvent('customer.subscription.updated', future))).status).toBe(200);
    expect(await billing(orgId)).toMatchObject({ planId: 'free', subscription: { status: 'unknown', currentPeriodEnd: null } });
  });

  it("grants the plan's credits once per paid invoice", async () => {
    const orgId = await newOrg('Invoiced');
    await app.database.db`insert into staffroom.billing_customers (organization_id, stripe_customer_id) values (${orgId}, 'cus_invoiced')`;
    const invoice = {
      ...stripeObject('invoice'),
      id: 'in_test_monthly',
      customer: 'cus_invoiced',
      lines: {
        object: 'list',
        data: [{ ...((stripeObject('invoice').lines as { data: object[] }).data[0] ?? {}), price: { id: 'price_starter_test' } }],
      },
    };
    await deliver(stripeEvent('invoice.paid', invoice));
    await deliver(stripeEvent('invoice.paid', invoice)); // another event id for the same invoice
    expect((await billing(orgId)).credits.available).toBe(10_000 + 300_000);
  });

  it('reverses refunded credits, partially and then fully, never below zero', async () => {
    const orgId = await newOrg('Refunded');
    await deliver(stripeEvent('checkout.session.completed', creditPackSession(orgId, 100_000, 'pi_refund_me')));
    const charge = (refunded: number) => ({
      ...stripeObject('charge'),
      id: 'ch_refund',
      payment_intent: 'pi_refund_me',
      amount: 3000,
      amount_captured: 3000,
      amount_refunded: refunded,
      refunded: refunded === 3000,
    });
    await deliver(stripeEvent('charge.refunded', charge(1500)));
    expect((await billing(orgId)).credits.available).toBe(10_000 + 50_000);
    await deliver(stripeEvent('charge.refunded', charge(3000)));
    expect((await billing(orgId)).credits.available).toBe(10_000);
    const [state] = await app.database
      .db`select (select sum(amount)::float8 from staffroom.credit_ledger where organization_id = ${orgId}) as sum,
      (select available::float8 from staffroom.credit_accounts where organization_id = ${orgId}) as available`;
    expect(state?.sum).toBe(state?.available);
  });

  it('acknowledges an event that lacks what it needs without applying it, and refuses what is no event', async () => {
    const orgId = await newOrg('Broken');
    const damaged = stripeEvent('checkout.session.completed', {
      ...creditPackSession(orgId, 1),
      metadata: { kind: 'credit_pack', credits: 'lots' },
    });
    expect(await deliver(damaged)).toMatchObject({ status: 200, body: { data: { duplicate: false } } });
    const { id: _id, ...noId } = creditPackSession(orgId, 1);
    expect(await deliver(stripeEvent('checkout.session.completed', noId))).toMatchObject({
      status: 200,
      body: { data: { duplicate: false } },
    });
    expect((await billing(orgId)).credits.available).toBe(10_000);
    const notAnEvent = await deliver({ id: 'evt_x', type: 'checkout.session.completed', data: null });
    expect(notAnEvent).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
  });

  it('acknowledges event types it does not handle', async () => {
    const response = await deliver(stripeEvent('customer.created', stripeObject('customer')));
    expect(response).toMatchObject({ status: 200, body: { data: { duplicate: false } } });
  });
});
