// Receiving Staffroom's webhooks: signed as the Standard Webhooks specification says, verified with its
// reference library (bundled into the SDK).
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import type { components } from './generated/api.js';

export { WebhookVerificationError };
export type WebhookPayload = components['schemas']['WebhookPayload'];

/** A Fetch API `Headers`, or Node's `req.headers`. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

/**
 * Verifies a webhook with the endpoint's secret (`whsec_...`) and returns its payload. `body` must be the raw
 * body as received (not JSON parsed and serialised again). Throws WebhookVerificationError when the
 * signature does not match or the `webhook-timestamp` is more than 5 minutes away from now (a replay).
 */
export function verifyWebhook(secret: string, headers: WebhookHeaders, body: string | Uint8Array): WebhookPayload {
  const wanted = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;
  const read = (name: string): string => {
    const value =
      headers instanceof Headers
        ? headers.get(name)
        : (Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1] ?? undefined);
    return (Array.isArray(value) ? value.join(' ') : value) ?? '';
  };
  const signed = Object.fromEntries(wanted.map((name) => [name, read(name)]));
  return new Webhook(secret).verify(body, signed) as WebhookPayload;
}
