import { ApiError } from '../kernel/errors.js';
import type { Handler } from '../http/types.js';
import { verifyStripeEvent } from '../integrations/stripe.js';
import { database } from '../services/context.js';
import { processStripeEvent } from '../services/webhooks.js';

export const receiveStripeWebhook: Handler<'receiveStripeWebhook'> = async (req, ctx) => {
  const secret = ctx.deps.stripe?.config.webhookSecret;
  if (!secret) throw new ApiError('UNAVAILABLE', 'Stripe webhooks are not configured; set STRIPE_WEBHOOK_SECRET.');
  let event;
  try {
    event = await verifyStripeEvent(req.rawBody ?? Buffer.alloc(0), req.headers['Stripe-Signature'] ?? '', secret);
  } catch {
    throw new ApiError('VALIDATION_ERROR', 'The Stripe-Signature does not verify for this body.', [
      { field: 'header.Stripe-Signature', message: 'does not match the body' },
    ]);
  }
  const { duplicate } = await processStripeEvent(database(ctx), ctx.deps.stripe!.config, event, ctx.log, { deadline: ctx.deadline });
  return { status: 200, body: { received: true, duplicate } };
};
