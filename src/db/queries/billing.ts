import type { Tx } from '../client.js';

export async function recordStripeEvent(tx: Tx, event: { id: string; type: string; created: number }): Promise<boolean> {
  const rows = await tx`insert into staffroom.stripe_events (id, type, created) values (${event.id}, ${event.type}, ${event.created})
                        on conflict (id) do nothing returning id`;
  return rows.length === 1;
}

export async function organizationExists(tx: Tx, orgId: string): Promise<boolean> {
  const [row] = await tx<{ exists: boolean }[]>`select exists(select 1 from staffroom.organizations where id = ${orgId}) as exists`;
  return row?.exists ?? false;
}

export async function findCustomer(tx: Tx, orgId: string): Promise<string | undefined> {
  const [row] = await tx<
    { id: string }[]
  >`select stripe_customer_id as id from staffroom.billing_customers where organization_id = ${orgId}`;
  return row?.id;
}

export async function organizationOfCustomer(tx: Tx, customerId: string): Promise<string | undefined> {
  const [row] = await tx<
    { id: string }[]
  >`select organization_id as id from staffroom.billing_customers where stripe_customer_id = ${customerId}`;
  return row?.id;
}

export async function saveCustomer(tx: Tx, orgId: string, customerId: string): Promise<void> {
  await tx`insert into staffroom.billing_customers (organization_id, stripe_customer_id) values (${orgId}, ${customerId}) on conflict do nothing`;
}

export async function recordPurchase(
  tx: Tx,
  purchase: { sessionId: string; orgId: string; paymentIntentId: string | null; credits: number; amountCents: number },
): Promise<boolean> {
  const rows = await tx`
    insert into staffroom.credit_purchases (checkout_session_id, organization_id, payment_intent_id, credits, amount_cents)
    values (${purchase.sessionId}, ${purchase.orgId}, ${purchase.paymentIntentId}, ${purchase.credits}, ${purchase.amountCents})
    on conflict do nothing returning checkout_session_id`;
  return rows.length === 1;
}

export async function findPurchaseByPaymentIntent(tx: Tx, paymentIntentId: string) {
  const [row] = await tx<{ sessionId: string; orgId: string; credits: number; amountCents: number; refundedCredits: number }[]>`
    select checkout_session_id as "sessionId", organization_id as "orgId", credits::float8 as credits,
           amount_cents::float8 as "amountCents", refunded_credits::float8 as "refundedCredits"
    from staffroom.credit_purchases where payment_intent_id = ${paymentIntentId} for update`;
  return row;
}

export async function setRefundedCredits(tx: Tx, sessionId: string, refundedCredits: number): Promise<void> {
  await tx`update staffroom.credit_purchases set refunded_credits = ${refundedCredits} where checkout_session_id = ${sessionId}`;
}

export interface SubscriptionState {
  orgId: string;
  subscriptionId: string;
  planId: 'free' | 'starter' | 'pro';
  status: string;
  currentPeriodEnd: string | null;
  cancelAtPeriodEnd: boolean;
  eventCreated: number;
}

/** Applies a subscription state unless a newer event was applied already; true when it was applied. */
export async function applySubscription(tx: Tx, state: SubscriptionState): Promise<boolean> {
  const rows = await tx`
    insert into staffroom.subscriptions as s (organization_id, stripe_subscription_id, plan_id, status, current_period_end, cancel_at_period_end, last_event_created)
    values (${state.orgId}, ${state.subscriptionId}, ${state.planId}, ${state.status}, ${state.currentPeriodEnd}::text::timestamptz,
            ${state.cancelAtPeriodEnd}, ${state.eventCreated})
    on conflict (organization_id) do update set
      stripe_subscription_id = excluded.stripe_subscription_id, plan_id = excluded.plan_id, status = excluded.status,
      current_period_end = excluded.current_period_end, cancel_at_period_end = excluded.cancel_at_period_end,
      last_event_created = excluded.last_event_created, updated_at = now()
    where s.last_event_created <= excluded.last_event_created
    returning s.organization_id`;
  if (rows.length === 0) return false;
  const active = ['active', 'trialing', 'past_due'].includes(state.status);
  await tx`update staffroom.organizations set plan_id = ${active ? state.planId : 'free'}, updated_at = now() where id = ${state.orgId}`;
  return true;
}

export async function findSubscription(tx: Tx, orgId: string) {
  const [row] = await tx<{ status: string; currentPeriodEnd: string | null; cancelAtPeriodEnd: boolean; planId: string }[]>`
    select status, to_json(current_period_end)#>>'{}' as "currentPeriodEnd", cancel_at_period_end as "cancelAtPeriodEnd", plan_id as "planId"
    from staffroom.subscriptions where organization_id = ${orgId}`;
  return row;
}
