// Stripe webhooks, applied exactly once: the event id is recorded in the same transaction as its effects,
// so a replay changes nothing and a failure leaves nothing half-applied (Stripe retries a 5xx).
import type Stripe from 'stripe';
import type { Logger } from 'pino';
import { withService, type Db, type Tx, type TxLimits } from '../db/client.js';
import * as billing from '../db/queries/billing.js';
import { emitBillingUpdated } from '../db/queries/events.js';
import { findAvailable, moveCredits } from '../db/queries/credits.js';
import type { StripeConfig } from '../integrations/stripe.js';
import { ApiError } from '../kernel/errors.js';
import { plans } from './catalog.js';

type Json = Record<string, unknown>;
const reason = 'Stripe is the caller: webhooks act for the organization the event names';
export const handledStripeEventTypes: readonly string[] = [
  'checkout.session.completed',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.paid',
  'charge.refunded',
];
const handledTypes = new Set(handledStripeEventTypes);
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const str = (value: unknown): string | undefined => (typeof value === 'string' && value ? value : undefined);
const idOf = (value: unknown): string | undefined => str(value) ?? str((value as Json | null)?.id);
const int = (value: unknown): number | undefined => (Number.isSafeInteger(value) ? (value as number) : undefined);
// Unix seconds as a timestamp, or null when absent or outside years 1970-9999 (no date a subscription has).
const isoFromUnix = (seconds: number | undefined): string | null =>
  seconds !== undefined && seconds > 0 && seconds < 253_402_300_800 ? new Date(seconds * 1000).toISOString() : null;

export async function processStripeEvent(
  db: Db,
  config: StripeConfig,
  event: Stripe.Event,
  log: Logger,
  limits: TxLimits = {},
): Promise<{ duplicate: boolean }> {
  const envelope = event as unknown as { id?: unknown; type?: unknown; created?: unknown; data?: { object?: unknown } | null };
  if (
    !str(envelope.id) ||
    !str(envelope.type) ||
    int(envelope.created) === undefined ||
    typeof envelope.data?.object !== 'object' ||
    envelope.data.object === null
  ) {
    throw new ApiError('VALIDATION_ERROR', 'This is not a Stripe event: id, type, created and data.object are required.', [
      { field: 'body', message: 'is not a Stripe event' },
    ]);
  }
  return withService(
    db,
    reason,
    async (tx) => {
      if (!(await billing.recordStripeEvent(tx, { id: event.id, type: event.type, created: event.created }))) return { duplicate: true };
      const object = event.data.object as unknown as Json;
      if (handledTypes.has(event.type) && !str(object.id)) {
        // Acknowledged (a 4xx or 5xx would only make Stripe send it again for days), recorded, and logged.
        log.warn({ eventId: event.id, type: event.type }, 'stripe event without the object id it needs; ignored');
        return { duplicate: false };
      }
      switch (event.type) {
        case 'checkout.session.completed':
          await checkoutCompleted(tx, event, object, log);
          break;
        case 'customer.subscription.created':
        case 'customer.subscription.updated':
        case 'customer.subscription.deleted':
          await subscriptionChanged(tx, config, event, object, log);
          break;
        case 'invoice.paid':
          await invoicePaid(tx, config, object, log);
          break;
        case 'charge.refunded':
          await chargeRefunded(tx, object, log);
          break;
        default:
          log.info({ eventId: event.id, type: event.type }, 'stripe event acknowledged, not handled');
      }
      return { duplicate: false };
    },
    limits,
  );
}

async function checkoutCompleted(tx: Tx, event: Stripe.Event, session: Json, log: Logger): Promise<void> {
  const orgId = str(session.client_reference_id);
  const metadata = (session.metadata ?? {}) as Json;
  if (!orgId || !uuid.test(orgId) || !(await billing.organizationExists(tx, orgId))) {
    log.warn({ eventId: event.id }, 'checkout session for no known organization; ignored');
    return;
  }
  const customer = idOf(session.customer);
  if (customer) await billing.saveCustomer(tx, orgId, customer);
  if (metadata.kind !== 'credit_pack') return; // subscriptions take effect through their own events
  const sessionId = str(session.id)!;
  const credits = Number(metadata.credits);
  if (!Number.isSafeInteger(credits) || credits <= 0) {
    // Our own metadata, damaged: retrying cannot fix it, so it is acknowledged and left to a person.
    log.error({ eventId: event.id, sessionId }, 'credit pack checkout without valid credits metadata; not applied');
    return;
  }
  if (session.payment_status !== 'paid') return;
  const recorded = await billing.recordPurchase(tx, {
    sessionId,
    orgId,
    paymentIntentId: idOf(session.payment_intent) ?? null,
    credits,
    amountCents: int(session.amount_total) ?? 0,
  });
  if (!recorded) return; // the same session through another event id
  await moveCredits(tx, {
    orgId,
    kind: 'purchase',
    amount: credits,
    reference: `checkout:${sessionId}`,
    description: `Credit pack purchase (${sessionId})`,
  });
  await emitBillingUpdated(tx, orgId);
  log.info({ organizationId: orgId, credits, sessionId }, 'credits purchased');
}

function planOfPrice(config: StripeConfig, priceId: string | undefined): 'starter' | 'pro' | undefined {
  if (!priceId) return undefined;
  if (config.prices.starter === priceId) return 'starter';
  if (config.prices.pro === priceId) return 'pro';
  return undefined;
}

async function subscriptionChanged(tx: Tx, config: StripeConfig, event: Stripe.Event, subscription: Json, log: Logger): Promise<void> {
  const metadataOrg = str((subscription.metadata as Json | undefined)?.organization_id);
  const customer = idOf(subscription.customer);
  const orgId =
    metadataOrg && uuid.test(metadataOrg) ? metadataOrg : customer ? await billing.organizationOfCustomer(tx, customer) : undefined;
  if (!orgId || !(await billing.organizationExists(tx, orgId))) {
    log.warn({ eventId: event.id }, 'subscription of no known organization; ignored');
    return;
  }
  if (customer) await billing.saveCustomer(tx, orgId, customer);
  const item = ((subscription.items as Json | undefined)?.data as Json[] | undefined)?.[0];
  const planId = planOfPrice(config, idOf(item?.price));
  if (!planId) {
    log.warn({ eventId: event.id }, 'subscription to a price that is no plan; ignored');
    return;
  }
  const periodEnd = int(item?.current_period_end) ?? int(subscription.current_period_end);
  const status = event.type === 'customer.subscription.deleted' ? 'canceled' : (str(subscription.status) ?? 'incomplete');
  const applied = await billing.applySubscription(tx, {
    orgId,
    subscriptionId: str(subscription.id)!,
    planId,
    status,
    currentPeriodEnd: isoFromUnix(periodEnd),
    cancelAtPeriodEnd: subscription.cancel_at_period_end === true,
    eventCreated: event.created,
  });
  if (applied) await emitBillingUpdated(tx, orgId);
  log.info({ organizationId: orgId, status, planId, applied }, applied ? 'subscription applied' : 'older subscription event skipped');
}

async function invoicePaid(tx: Tx, config: StripeConfig, invoice: Json, log: Logger): Promise<void> {
  const customer = idOf(invoice.customer);
  const orgId = customer ? await billing.organizationOfCustomer(tx, customer) : undefined;
  const line = ((invoice.lines as Json | undefined)?.data as Json[] | undefined)?.[0];
  const priceId = idOf(line?.price) ?? idOf(((line?.pricing as Json | undefined)?.price_details as Json | undefined)?.price);
  const planId = planOfPrice(config, priceId);
  if (!orgId || !planId) return; // not a plan invoice of ours
  const plan = plans.find((p) => p.id === planId)!;
  await moveCredits(tx, {
    orgId,
    kind: 'grant',
    amount: plan.monthlyCredits,
    reference: `invoice:${str(invoice.id)}`,
    description: `${plan.name} plan credits`,
  });
  await emitBillingUpdated(tx, orgId);
  log.info({ organizationId: orgId, planId, invoice: invoice.id }, 'plan credits granted');
}

async function chargeRefunded(tx: Tx, charge: Json, log: Logger): Promise<void> {
  const paymentIntent = idOf(charge.payment_intent);
  const purchase = paymentIntent ? await billing.findPurchaseByPaymentIntent(tx, paymentIntent) : undefined;
  if (!purchase) return; // not a credit purchase
  const refundedCents = int(charge.amount_refunded) ?? 0;
  const paidCents = int(charge.amount_captured) || int(charge.amount) || purchase.amountCents;
  // amount_refunded is cumulative: reverse the credits of what has been refunded so far, minus earlier reversals.
  const target = paidCents > 0 ? Math.min(purchase.credits, Math.floor((purchase.credits * refundedCents) / paidCents)) : purchase.credits;
  const wanted = target - purchase.refundedCredits;
  if (wanted <= 0) return;
  // Credits already spent cannot be taken back below zero: reverse what is there and log the rest.
  const reversed = Math.min(wanted, await findAvailable(tx, purchase.orgId));
  if (reversed > 0) {
    await moveCredits(tx, {
      orgId: purchase.orgId,
      kind: 'refund',
      amount: -reversed,
      reference: `refund:${purchase.sessionId}:${target}`,
      description: `Refund of credit pack (${purchase.sessionId})`,
    });
  }
  await billing.setRefundedCredits(tx, purchase.sessionId, purchase.refundedCredits + wanted);
  await emitBillingUpdated(tx, purchase.orgId);
  if (reversed < wanted) log.warn({ organizationId: purchase.orgId, shortfall: wanted - reversed }, 'refund exceeds the remaining credits');
}
