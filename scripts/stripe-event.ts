// `STRIPE_WEBHOOK_SECRET=whsec_... npm run stripe:event -- <orgId> [credits] [--id evt_...]`: posts a signed
// checkout.session.completed for a credit pack to the local server, as Stripe would. Send the same --id again
// to see a replay change nothing.
import { parseArgs } from 'node:util';
import Stripe from 'stripe';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { id: { type: 'string' }, url: { type: 'string', default: `http://127.0.0.1:${process.env.PORT ?? 3000}` } },
});
const [orgId, credits = '100000'] = positionals;
const secret = process.env.STRIPE_WEBHOOK_SECRET;
if (!orgId || !secret) {
  console.error('Usage: STRIPE_WEBHOOK_SECRET=whsec_... npm run stripe:event -- <orgId> [credits] [--id evt_...]');
  process.exit(2);
}
const id = values.id ?? `evt_local_${Date.now()}`;
const payload = JSON.stringify({
  id,
  object: 'event',
  type: 'checkout.session.completed',
  created: Math.floor(Date.now() / 1000),
  livemode: false,
  api_version: '2025-10-29.clover',
  data: {
    object: {
      id: `cs_local_${id}`,
      object: 'checkout.session',
      mode: 'payment',
      status: 'complete',
      payment_status: 'paid',
      client_reference_id: orgId,
      amount_total: 1000,
      currency: 'usd',
      metadata: { kind: 'credit_pack', credits },
    },
  },
});
const response = await fetch(`${values.url}/v1/webhooks/stripe`, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json', 'Stripe-Signature': Stripe.webhooks.generateTestHeaderString({ payload, secret }) },
  body: payload,
});
console.log(response.status, await response.text(), `(event ${id})`);
