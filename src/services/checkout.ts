// Stripe Checkout and the customer portal. Stripe calls run outside database transactions; the customer is
// created once per organization (Stripe idempotency key per organization, then a unique row).
import { createHash } from 'node:crypto';
import type { components } from '../generated/api.js';
import { ApiError, validationError } from '../kernel/errors.js';
import type { RequestContext } from '../kernel/context.js';
import { withService } from '../db/client.js';
import * as billing from '../db/queries/billing.js';
import { priceVariables } from '../integrations/stripe.js';
import { creditPacks } from './catalog.js';
import { asCaller, database, userOf } from './context.js';
import { requireOrganization, requireRole } from './organizations.js';

type CheckoutRequest = components['schemas']['CheckoutRequest'];
type CheckoutSession = components['schemas']['CheckoutSession'];
type PortalSession = components['schemas']['PortalSession'];

async function stripeOf(ctx: RequestContext) {
  const client = await ctx.deps.stripe?.client?.();
  if (!client) throw new ApiError('UNAVAILABLE', 'Billing is not configured on this deployment; set STRIPE_SECRET_KEY.');
  return { client, config: ctx.deps.stripe!.config };
}

function checkRedirect(url: string, field: string, origins: string[]): void {
  let origin: string;
  try {
    origin = new URL(url).origin;
  } catch {
    throw validationError(field, 'is not a URL');
  }
  if (!origins.includes(origin)) throw validationError(field, `must be on an allowed origin (${origins.join(', ')})`);
}

async function stripeCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new ApiError('UNAVAILABLE', `Stripe could not ${what}; try again.`, undefined, { cause: error });
  }
}

async function customerFor(ctx: RequestContext, orgId: string, name: string): Promise<string> {
  const existing = await asCaller(ctx, (tx) => billing.findCustomer(tx, orgId));
  if (existing) return existing;
  const { client } = await stripeOf(ctx);
  // Concurrent first checkouts send the same idempotency key, so Stripe returns one customer to all of them.
  const customer = await stripeCall('create the customer', () =>
    client.customers.create({ name, metadata: { organization_id: orgId } }, { idempotencyKey: `staffroom-customer-${orgId}` }),
  );
  return withService(
    database(ctx),
    'the Stripe customer id comes from Stripe, not from the caller',
    async (tx) => {
      await billing.saveCustomer(tx, orgId, customer.id);
      return (await billing.findCustomer(tx, orgId))!;
    },
    { deadline: ctx.deadline },
  );
}

export async function createCheckoutSession(
  ctx: RequestContext,
  orgId: string,
  input: CheckoutRequest,
  idempotencyKey?: string,
): Promise<CheckoutSession> {
  const user = userOf(ctx);
  const { client, config } = await stripeOf(ctx);
  const item = input.kind === 'plan' ? input.plan : input.pack;
  const price = config.prices[item];
  if (!price) throw new ApiError('UNAVAILABLE', `${item} is not on sale on this deployment; set ${priceVariables[item]}.`);
  checkRedirect(input.successUrl, 'body.successUrl', config.redirectOrigins);
  checkRedirect(input.cancelUrl, 'body.cancelUrl', config.redirectOrigins);
  const org = await asCaller(ctx, async (tx) => {
    const found = await requireOrganization(tx, orgId);
    requireRole(found, ['owner', 'admin'], 'buy plans or credits');
    const subscription = await billing.findSubscription(tx, orgId);
    if (input.kind === 'plan' && subscription?.planId === input.plan && ['active', 'trialing', 'past_due'].includes(subscription.status)) {
      throw new ApiError('ALREADY_SUBSCRIBED', `The organization is already subscribed to ${input.plan}; use the portal to change it.`);
    }
    return found;
  });
  const customer = await customerFor(ctx, orgId, org.name);
  const quantity = input.kind === 'credit_pack' ? (input.quantity ?? 1) : 1;
  const credits = input.kind === 'credit_pack' ? creditPacks.find((p) => p.id === input.pack)!.credits * quantity : undefined;
  const metadata = {
    organization_id: orgId,
    kind: input.kind,
    ...(input.kind === 'plan' ? { plan: input.plan } : { credits: String(credits) }),
  };
  const session = await stripeCall('start the checkout', () =>
    client.checkout.sessions.create(
      {
        mode: input.kind === 'plan' ? 'subscription' : 'payment',
        customer,
        client_reference_id: orgId,
        line_items: [{ price, quantity }],
        success_url: input.successUrl,
        cancel_url: input.cancelUrl,
        metadata,
        ...(input.kind === 'plan' ? { subscription_data: { metadata: { organization_id: orgId } } } : {}),
      },
      // The caller's key, not the organization's; hashed, as Stripe takes 255 characters and a client's key may have as many.
      idempotencyKey ? { idempotencyKey: `staffroom-checkout-${sha256(`${orgId}\n${user.userId}\n${idempotencyKey}`)}` } : undefined,
    ),
  );
  return { id: session.id, url: session.url ?? '', expiresAt: new Date(session.expires_at * 1000).toISOString() };
}

export async function createPortalSession(ctx: RequestContext, orgId: string, returnUrl: string): Promise<PortalSession> {
  userOf(ctx);
  const { client, config } = await stripeOf(ctx);
  checkRedirect(returnUrl, 'body.returnUrl', config.redirectOrigins);
  const customer = await asCaller(ctx, async (tx) => {
    requireRole(await requireOrganization(tx, orgId), ['owner', 'admin'], 'manage billing');
    return billing.findCustomer(tx, orgId);
  });
  if (!customer) throw new ApiError('NO_BILLING_ACCOUNT', 'The organization has no billing account yet: buy a plan or credits first.');
  const session = await stripeCall('open the portal', () => client.billingPortal.sessions.create({ customer, return_url: returnUrl }));
  return { url: session.url };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
