// Stripe, configured from the environment. STRIPE_API_BASE points the SDK at another host (tests use a
// local fake of the few endpoints called).
import Stripe from 'stripe';
import type { StripeConfig } from '../kernel/context.js';
export type { StripeConfig };


export const priceVariables = {
  starter: 'STRIPE_PRICE_STARTER',
  pro: 'STRIPE_PRICE_PRO',
  'credits-100k': 'STRIPE_PRICE_CREDITS_100K',
  'credits-1m': 'STRIPE_PRICE_CREDITS_1M',
} as const;

export function stripeConfigFromEnv(env: NodeJS.ProcessEnv): StripeConfig {
  return {
    secretKey: env.STRIPE_SECRET_KEY,
    webhookSecret: env.STRIPE_WEBHOOK_SECRET,
    apiBase: env.STRIPE_API_BASE,
    prices: Object.fromEntries(
      Object.entries(priceVariables).flatMap(([id, variable]) => (env[variable] ? [[id, env[variable]]] : [])),
    ) as StripeConfig['prices'],
    redirectOrigins: (env.BILLING_REDIRECT_ORIGINS ?? 'http://localhost:3000,http://127.0.0.1:3000,http://localhost:5173')
      .split(',')
      .map((o) => o.trim().replace(/\/+$/, ''))
      .filter(Boolean),
  };
}

export function createStripeClient(config: StripeConfig): Stripe | undefined {
  if (!config.secretKey) return undefined;
  const base = config.apiBase ? new URL(config.apiBase) : undefined;
  return new Stripe(config.secretKey, {
    maxNetworkRetries: 2,
    timeout: 20_000,
    ...(base ? { host: base.hostname, port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)), protocol: base.protocol.replace(':', '') as 'http' | 'https' } : {}),
  });
}

/** Verifies the Stripe-Signature header over the raw body and returns the event. Throws when it fails. */
export function verifyStripeEvent(rawBody: Buffer, signature: string, webhookSecret: string): Stripe.Event {
  return Stripe.webhooks.constructEvent(rawBody, signature, webhookSecret);
}
