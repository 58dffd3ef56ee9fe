// A local stand-in for the few Stripe API endpoints Staffroom calls, answering with Stripe's example objects.
// It honours Idempotency-Key like Stripe: the same key returns the first response.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stripeObject } from './stripe-events.js';

export interface FakeStripe {
  url: string;
  requests: { path: string; form: URLSearchParams; idempotencyKey?: string }[];
  customersCreated: () => number;
  close(): Promise<void>;
}

export async function startFakeStripe(): Promise<FakeStripe> {
  const requests: FakeStripe['requests'] = [];
  const byKey = new Map<string, string>();
  let customers = 0;
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(raw);
      const key = req.headers['idempotency-key'] as string | undefined;
      requests.push({ path: req.url ?? '', form, idempotencyKey: key });
      const send = (status: number, body: string) =>
        res.writeHead(status, { 'Content-Type': 'application/json', 'Request-Id': 'req_fake' }).end(body);
      if (key && byKey.has(`${req.url} ${key}`)) return void send(200, byKey.get(`${req.url} ${key}`)!);
      let body: object;
      if (req.url === '/v1/customers') {
        customers++;
        body = {
          ...stripeObject('customer'),
          id: `cus_fake_${customers}`,
          name: form.get('name'),
          metadata: { organization_id: form.get('metadata[organization_id]') },
        };
      } else if (req.url === '/v1/checkout/sessions') {
        const id = `cs_test_fake_${requests.length}`;
        body = {
          ...stripeObject('checkout-session'),
          id,
          url: `https://checkout.stripe.com/c/pay/${id}`,
          expires_at: Math.floor(Date.now() / 1000) + 86_400,
          customer: form.get('customer'),
          mode: form.get('mode'),
        };
      } else if (req.url === '/v1/billing_portal/sessions') {
        body = {
          object: 'billing_portal.session',
          id: 'bps_fake',
          url: 'https://billing.stripe.com/p/session/test_fake',
          customer: form.get('customer'),
          return_url: form.get('return_url'),
        };
      } else {
        return void send(
          404,
          JSON.stringify({ error: { type: 'invalid_request_error', message: `Unrecognized request URL (POST: ${req.url})` } }),
        );
      }
      const text = JSON.stringify(body);
      if (key) byKey.set(`${req.url} ${key}`, text);
      send(200, text);
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    customersCreated: () => customers,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
