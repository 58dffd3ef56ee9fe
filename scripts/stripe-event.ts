// `STRIPE_WEBHOOK_SECRET=whsec_... npm run stripe:event -- <orgId> [credits] [--id evt_...]`: posts a signed
// checkout.session.completed for a credit pack to the local server, as Stripe would. Send the same --id again
// to see a replay change nothing. The server is the one `npm start` runs (PORT, default 3000), or --port, or
// --url.
import { parseArgs } from 'node:util';
import Stripe from 'stripe';

const usage =
  'Usage: STRIPE_WEBHOOK_SECRET=whsec_... npm run stripe:event -- <orgId> [credits] [--id evt_...] [--port 3000 | --url http://127.0.0.1:3000]';

/** Says what went wrong in one line, without a stack: the causes are a server that is not running, or its answer. */
function fail(message: string, code = 1): never {
  console.error(message);
  process.exit(code);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: { id: { type: 'string' }, port: { type: 'string' }, url: { type: 'string' } },
  });
} catch (error) {
  fail(`${(error as Error).message}\n${usage}`, 2);
}
const { positionals, values } = parsed;
const [orgId, credits = '100000'] = positionals;
const secret = process.env.STRIPE_WEBHOOK_SECRET;
if (!orgId || !secret) fail(usage, 2);
const port = values.port ?? process.env.PORT ?? '3000';
if (!/^\d{1,5}$/.test(port)) fail(`--port (or PORT) must be a port number, got "${port}".`, 2);
const baseUrl = (values.url ?? `http://127.0.0.1:${port}`).replace(/\/+$/, '');
if (!URL.canParse(baseUrl)) fail(`--url must be a URL such as http://127.0.0.1:3000, got "${baseUrl}".`, 2);

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
const connectionErrors: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
};

let response: Response;
try {
  response = await fetch(`${baseUrl}/v1/webhooks/stripe`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Stripe-Signature': Stripe.webhooks.generateTestHeaderString({ payload, secret }) },
    body: payload,
    signal: AbortSignal.timeout(15_000),
  });
} catch (error) {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const reason =
    (error as Error).name === 'TimeoutError'
      ? 'no answer within 15 s'
      : ((cause?.code && connectionErrors[cause.code]) ?? cause?.message ?? (error as Error).message);
  fail(`Could not reach ${baseUrl} (${reason}): is npm start running?`);
}
const text = await response.text();
if (!response.ok) {
  let envelope: { error?: { code?: string; message?: string } } | undefined;
  try {
    envelope = JSON.parse(text) as typeof envelope;
  } catch {
    // not the service's envelope: another program answers on that port
  }
  const said = envelope?.error?.code
    ? `${envelope.error.code}: ${envelope.error.message ?? ''}`
    : response.statusText || 'no error envelope';
  fail(`${baseUrl} answered ${response.status} ${said}`.trim());
}
console.log(response.status, text, `(event ${id})`);
