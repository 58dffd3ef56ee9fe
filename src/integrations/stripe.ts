// Stripe, configured from the environment. STRIPE_API_BASE points the SDK at another host (tests use a
// local fake of the few endpoints called).
import type Stripe from 'stripe';
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

// The SDK is large: it loads on the first billing call or webhook, not when the service starts.
let sdk: Promise<typeof Stripe> | undefined;
const loadSdk = () => (sdk ??= import('stripe').then((module) => module.default));

/** The Stripe client, made on first use; undefined when STRIPE_SECRET_KEY is not set. */
export function createStripeClient(config: StripeConfig): (() => Promise<Stripe>) | undefined {
  const { secretKey } = config;
  if (!secretKey) return undefined;
  let client: Promise<Stripe> | undefined;
  return () => (client ??= loadSdk().then((StripeSdk) => newClient(StripeSdk, secretKey, config.apiBase)));
}

function newClient(StripeSdk: typeof Stripe, secretKey: string, apiBase: string | undefined): Stripe {
  const base = apiBase ? new URL(apiBase) : undefined;
  return new StripeSdk(secretKey, {
    maxNetworkRetries: 2,
    timeout: 20_000,
    ...(base
      ? {
          host: base.hostname,
          port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)),
          protocol: base.protocol.replace(':', '') as 'http' | 'https',
        }
      : {}),
  });
}

/** Verifies the Stripe-Signature header over the raw body and returns the event. Throws when it fails. */
export async function verifyStripeEvent(rawBody: Buffer, signature: string, webhookSecret: string): Promise<Stripe.Event> {
  return (await loadSdk()).webhooks.constructEvent(rawBody, signature, webhookSecret);
}
