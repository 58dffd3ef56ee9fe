// Stripe events built from Stripe's own example objects (test/fixtures/stripe), signed like Stripe signs them.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import Stripe from 'stripe';

export const webhookSecret = 'whsec_test_secret_for_staffroom_tests';
let counter = 0;

export function stripeObject(name: 'checkout-session' | 'subscription' | 'invoice' | 'charge' | 'customer'): Record<string, unknown> {
  return JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/stripe', `${name}.json`), 'utf8')) as Record<string, unknown>;
}

export function stripeEvent(type: string, object: Record<string, unknown>, options: { id?: string; created?: number } = {}) {
  const base = JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/stripe/event.json'), 'utf8')) as Record<string, unknown>;
  return {
    ...base,
    id: options.id ?? `evt_test_${Date.now()}_${++counter}`,
    type,
    created: options.created ?? Math.floor(Date.now() / 1000),
    data: { object },
  };
}

/** The raw body and its Stripe-Signature header. */
export function signed(event: object, secret = webhookSecret): { body: string; signature: string } {
  const body = JSON.stringify(event);
  return { body, signature: Stripe.webhooks.generateTestHeaderString({ payload: body, secret }) };
}
