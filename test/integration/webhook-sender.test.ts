// Sending one webhook: a local receiver verifies each delivery with the standardwebhooks library (the
// receiver's side of the spec); URLs that reach inside the network are refused before anything is sent.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkWebhookUrl, generateWebhookSecret, sendWebhook } from '../../src/integrations/webhooks.js';

type Received = { headers: Record<string, string>; body: string; verified: boolean };
type Reply = (req: IncomingMessage, res: ServerResponse) => void;

const secret = generateWebhookSecret();
const ok: Reply = (_req, res) => res.writeHead(204).end();
let reply: Reply = ok;
let received: Received[] = [];
let server: Server;
let port: number;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      let verified = true;
      try {
        new Webhook(secret).verify(body, headers);
      } catch {
        verified = false;
      }
      received.push({ headers, body, verified });
      reply(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  reply = ok;
  received = [];
});

const event = JSON.stringify({ type: 'task.succeeded', data: { id: 'tsk_1', output: 'Räksmörgås ✓' } });
const deliver = (overrides: Partial<Parameters<typeof sendWebhook>[0]> = {}) =>
  sendWebhook({
    url: `http://127.0.0.1:${port}/hooks`,
    secret,
    id: `msg_${crypto.randomUUID()}`,
    timestamp: new Date(),
    body: event,
    allowPrivate: true,
    ...overrides,
  });

/** The refusal of a name that resolves to a special-purpose address: it never says which address. */
const notPublic = (name: string) =>
  `${name} resolves to an address that is not public (loopback, private or another special-purpose range)`;

describe('generateWebhookSecret', () => {
  it('is whsec_ and 32 random bytes in base64', () => {
    const generated = generateWebhookSecret();
    expect(generated).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(generated.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(generated);
  });
});

describe('sendWebhook', () => {
  it('delivers a POST the receiver verifies as a Standard Webhook', async () => {
    const timestamp = new Date();
    const result = await deliver({ id: 'msg_delivered', timestamp });
    expect(result).toMatchObject({ ok: true, status: 204, error: null });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(received).toHaveLength(1);
    const [delivery] = received;
    expect(delivery!.verified).toBe(true);
    expect(delivery!.body).toBe(event);
    expect(delivery!.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'Staffroom-Webhooks/1',
      'webhook-id': 'msg_delivered',
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    });
    expect(delivery!.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
  });

  it('signs HMAC-SHA256 over id.timestamp.body with the decoded secret, as the spec says', async () => {
    const { createHmac } = await import('node:crypto');
    await deliver({ id: 'msg_spec', timestamp: new Date(1_764_063_000_000) });
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key).update(`msg_spec.1764063000.${event}`).digest('base64');
    expect(received[0]!.headers['webhook-signature']).toBe(`v1,${expected}`);
  });

  it('does not verify when the body was changed or the secret is another', async () => {
    await deliver();
    const { headers, body } = received[0]!;
    expect(() => new Webhook(secret).verify(body.replace('tsk_1', 'tsk_2'), headers)).toThrow(/signature/i);
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow(/signature/i);
    expect(() => new Webhook(secret).verify(body, headers)).not.toThrow();
  });

  it('a delivery signed with another secret fails the receiver', async () => {
    const result = await deliver({ secret: generateWebhookSecret() });
    expect(result.ok).toBe(true); // the receiver answers 204 either way here; what matters is its verdict
    expect(received[0]!.verified).toBe(false);
  });

  it.each([
    ['127.0.0.1', () => `http://127.0.0.1:${port}/hooks`, /127\.0\.0\.1 is a loopback address/],
    ['localhost', () => `http://localhost:${port}/hooks`, /localhost is a local host name/],
    ['[::1]', () => `http://[::1]:${port}/hooks`, /::1 is a loopback address/],
    ['the cloud metadata address', () => 'http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a link-local address/],
    ['10.0.0.1', () => 'http://10.0.0.1/hooks', /10\.0\.0\.1 is a private address/],
    ['a decimal spelling of 127.0.0.1', () => `http://2130706433:${port}/hooks`, /127\.0\.0\.1 is a loopback address/],
  ])('refuses %s without allowPrivate, before any request', async (_name, url, reason) => {
    const result = await deliver({ url: url(), allowPrivate: false });
    expect(result).toMatchObject({ ok: false, status: null });
    expect(result.error).toMatch(reason);
    expect(received).toHaveLength(0);
  });

  it('refuses a host name that resolves to a loopback address, without saying which address', async () => {
    const result = await deliver({
      url: `http://hooks.example.test:${port}/hooks`,
      allowPrivate: false,
      resolveHost: async () => ['93.184.215.14', '127.0.0.1'],
    });
    expect(result).toMatchObject({ ok: false, status: null, error: notPublic('hooks.example.test') });
    expect(received).toHaveLength(0);
  });

  it('sends to a private address when the deployment allows it', async () => {
    expect(await deliver({ allowPrivate: true })).toMatchObject({ ok: true, status: 204 });
    expect(received).toHaveLength(1);
  });

  it('connects only to the checked addresses, keeping the URL host in the Host header', async () => {
    // hooks.example.test exists in no DNS: the request can only reach the receiver through the checked address.
    const result = await deliver({ url: `http://hooks.example.test:${port}/hooks`, resolveHost: async () => ['127.0.0.1'] });
    expect(result).toMatchObject({ ok: true, status: 204 });
    expect(received[0]!.headers.host).toBe(`hooks.example.test:${port}`);
    expect(received[0]!.verified).toBe(true);
  });

  it('opens TLS to the URL host name while connecting to the checked address', async () => {
    const serverNames: string[] = [];
    // No certificate: the handshake stops right after the server has read the name the client asked for.
    const tlsServer = createTlsServer({
      SNICallback: (name, answer) => {
        serverNames.push(name);
        answer(new Error('no certificate'), undefined);
      },
    });
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    try {
      const tlsPort = (tlsServer.address() as AddressInfo).port;
      const result = await deliver({ url: `https://hooks.example.test:${tlsPort}/hooks`, resolveHost: async () => ['127.0.0.1'] });
      expect(result).toMatchObject({ ok: false, status: null });
      expect(serverNames).toEqual(['hooks.example.test']);
    } finally {
      await new Promise((resolve) => tlsServer.close(resolve));
    }
  });

  it('a DNS answer that changes after the check does not redirect the connection', async () => {
    // The checked answer reaches the receiver; the later one (192.0.2.0/24, documentation) is routed nowhere.
    const answers = [['127.0.0.1'], ['192.0.2.10']];
    let lookups = 0;
    const result = await deliver({
      url: `http://rebind.example.test:${port}/hooks`,
      timeoutMs: 2_000,
      resolveHost: async () => answers[Math.min(lookups++, 1)]!,
    });
    expect(result).toMatchObject({ ok: true, status: 204 });
    expect(lookups).toBe(1);
    expect(received).toHaveLength(1);
  });

  it('reports a 500 as a failure with its status', async () => {
    reply = (_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
    expect(await deliver()).toMatchObject({ ok: false, status: 500, error: 'the endpoint answered 500' });
  });

  it('gives up on a slow receiver after timeoutMs', async () => {
    reply = (_req, res) => setTimeout(() => res.writeHead(200).end(), 2_000);
    const result = await deliver({ timeoutMs: 200 });
    expect(result).toMatchObject({ ok: false, status: null, error: 'timed out after 200 ms' });
    expect(result.durationMs).toBeLessThan(1_500);
  });

  it('does not follow a redirect and says so', async () => {
    reply = (_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${port}/elsewhere` }).end();
    const result = await deliver();
    expect(result).toMatchObject({ ok: false, status: 302 });
    expect(result.error).toMatch(/redirect to http:\/\/127\.0\.0\.1:\d+\/elsewhere; redirects are not followed/);
    expect(received).toHaveLength(1);
  });

  it('reads at most maxResponseBytes of an endless answer, then lets go', async () => {
    let written = 0;
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
    reply = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 120);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) written += chunk.length;
      };
      res.on('drain', pump);
      res.on('close', closed);
      pump();
    };
    const result = await deliver({ maxResponseBytes: 16 * 1024 });
    expect(result).toMatchObject({ ok: true, status: 200, error: null });
    await connectionClosed;
    // What the receiver managed to write is what the socket buffers held, not a stream read to its end.
    expect(written).toBeLessThan(32 * 1024 * 1024);
  });

  it('reports a refused connection in plain words, without throwing', async () => {
    const closedServer = createServer();
    await new Promise<void>((resolve) => closedServer.listen(0, '127.0.0.1', resolve));
    const freePort = (closedServer.address() as AddressInfo).port;
    await new Promise((resolve) => closedServer.close(resolve));
    const result = await deliver({ url: `http://127.0.0.1:${freePort}/hooks` });
    expect(result).toMatchObject({ ok: false, status: null, error: `127.0.0.1:${freePort} refused the connection` });
  });

  it('reports a secret that is not base64 instead of throwing', async () => {
    const result = await deliver({ secret: 'whsec_***' });
    expect(result).toMatchObject({ ok: false, status: null, error: 'the signing secret is not a valid whsec_ secret' });
    expect(received).toHaveLength(0);
  });
});

describe('checkWebhookUrl', () => {
  const refused = async (url: string) => {
    const result = await checkWebhookUrl(url, { allowPrivate: false });
    return result.ok ? undefined : result.reason;
  };

  it.each([
    ['127.0.0.1', 'a loopback address'],
    ['127.255.0.9', 'a loopback address'],
    ['[::1]', 'a loopback address'],
    ['10.0.0.1', 'a private address'],
    ['10.255.255.255', 'a private address'],
    ['172.16.0.1', 'a private address'],
    ['172.31.255.254', 'a private address'],
    ['192.168.1.1', 'a private address'],
    ['[fc00::1]', 'a private address'],
    ['[fd12:3456:789a::1]', 'a private address'],
    ['169.254.169.254', 'a link-local address'],
    ['169.254.0.1', 'a link-local address'],
    ['[fe80::1]', 'a link-local address'],
    ['[febf::1]', 'a link-local address'],
    ['100.64.0.1', 'a carrier-grade NAT address'],
    ['100.127.255.254', 'a carrier-grade NAT address'],
    ['0.0.0.0', 'an unspecified address'],
    ['[::]', 'an unspecified address'],
    ['224.0.0.1', 'a multicast address'],
    ['239.255.255.250', 'a multicast address'],
    ['[ff02::1]', 'a multicast address'],
    ['255.255.255.255', 'a broadcast address'],
    ['[::ffff:127.0.0.1]', 'an IPv4-mapped address of 127.0.0.1, a loopback address'],
    ['[::ffff:169.254.169.254]', 'an IPv4-mapped address of 169.254.169.254, a link-local address'],
    ['[::ffff:10.0.0.1]', 'an IPv4-mapped address of 10.0.0.1, a private address'],
    ['[64:ff9b::a9fe:a9fe]', 'a NAT64 address of 169.254.169.254, a link-local address'],
  ])('refuses %s: %s', async (host, kind) => {
    const reason = await refused(`https://${host}/hooks`);
    expect(reason).toMatch(new RegExp(` is ${kind.replace(/[.()]/g, '\\$&')}$`));
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.15.255.255',
    '172.32.0.1',
    '100.63.255.255',
    '100.128.0.1',
    '192.169.0.1',
    '198.17.255.255',
    '198.20.0.1',
    '192.0.3.1',
    '[2606:4700:4700::1111]',
    '[2001:4860:4860::8888]',
  ])('accepts the public address %s without DNS', async (host) => {
    const result = await checkWebhookUrl(`https://${host}/hooks`, {
      allowPrivate: false,
      resolveHost: () => Promise.reject(new Error('no DNS for literal addresses')),
    });
    expect(result.ok).toBe(true);
  });

  it('accepts private addresses and localhost when allowed', async () => {
    expect(await checkWebhookUrl('http://10.0.0.1/', { allowPrivate: true })).toEqual({ ok: true, addresses: ['10.0.0.1'] });
    expect(await checkWebhookUrl('http://[::1]:8080/', { allowPrivate: true })).toEqual({ ok: true, addresses: ['::1'] });
    const local = await checkWebhookUrl('http://app.localhost/', { allowPrivate: true, resolveHost: async () => ['127.0.0.1'] });
    expect(local).toEqual({ ok: true, addresses: ['127.0.0.1'] });
  });

  it('refuses localhost names without asking DNS', async () => {
    const noDns = () => Promise.reject(new Error('must not resolve'));
    for (const host of ['localhost', 'LOCALHOST', 'localhost.', 'api.localhost']) {
      const result = await checkWebhookUrl(`http://${host}/`, { allowPrivate: false, resolveHost: noDns });
      expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/localhost is a local host name/) });
    }
  });

  it('judges every address a name resolves to', async () => {
    const check = (addresses: string[]) =>
      checkWebhookUrl('https://hooks.example.com/', { allowPrivate: false, resolveHost: async () => addresses });
    expect(await check(['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'])).toMatchObject({ ok: true });
    expect(await check(['93.184.215.14', '10.1.2.3'])).toEqual({ ok: false, reason: notPublic('hooks.example.com') });
    expect(await check(['::ffff:a9fe:a9fe'])).toEqual({ ok: false, reason: notPublic('hooks.example.com') });
    expect(await check([])).toEqual({ ok: false, reason: 'the host hooks.example.com could not be resolved' });
    const failing = await checkWebhookUrl('https://nowhere.invalid/', {
      allowPrivate: false,
      resolveHost: () => Promise.reject(new Error('ENOTFOUND')),
    });
    expect(failing).toEqual({ ok: false, reason: 'the host nowhere.invalid could not be resolved' });
  });

  it.each([
    ['ftp://example.com/hooks', 'the URL must start with http:// or https://, not ftp:'],
    ['file:///etc/passwd', 'the URL must start with http:// or https://, not file:'],
    ['https://user:pass@example.com/hooks', 'the URL must not contain a user name or password'],
    ['https://token@example.com/hooks', 'the URL must not contain a user name or password'],
    ['not a url', 'the URL is not valid'],
  ])('refuses %s', async (url, reason) => {
    expect(await checkWebhookUrl(url, { allowPrivate: true })).toEqual({ ok: false, reason });
  });
});

// The IANA special-purpose registries (IPv4 and IPv6): none of these ranges is a public unicast destination, and
// the IPv6 forms that carry an IPv4 address are refused whatever they carry.
describe('special-purpose ranges', () => {
  const specialPurpose: [range: string, address: string, reason: RegExp][] = [
    ['198.18.0.0/15 (benchmarking)', '198.18.0.1', /^198\.18\.0\.1 is a reserved address/],
    ['198.18.0.0/15, its last address', '198.19.255.254', /^198\.19\.255\.254 is a reserved address/],
    ['192.0.0.0/24 (IETF protocol assignments)', '192.0.0.8', /^192\.0\.0\.8 is a reserved address/],
    ['192.0.2.0/24 (documentation)', '192.0.2.10', /^192\.0\.2\.10 is a reserved address/],
    ['198.51.100.0/24 (documentation)', '198.51.100.7', /is a reserved address/],
    ['203.0.113.0/24 (documentation)', '203.0.113.7', /is a reserved address/],
    ['240.0.0.0/4 (reserved)', '240.0.0.1', /is a reserved address/],
    [
      '6to4 2002::/16, carrying a private address',
      '2002:c0a8:101::1',
      /^2002:c0a8:101::1 is a 6to4 address of 192\.168\.1\.1, a private address$/,
    ],
    ['6to4 2002::/16, carrying a public address', '2002:808:808::1', /^2002:808:808::1 is a 6to4 address of 8\.8\.8\.8$/],
    ['NAT64 local-use 64:ff9b:1::/48', '64:ff9b:1::a00:1', /^64:ff9b:1::a00:1 is a NAT64 address$/],
    ['NAT64 64:ff9b::/96, carrying a public address', '64:ff9b::808:808', /^64:ff9b::808:808 is a NAT64 address of 8\.8\.8\.8$/],
    ['IPv4-mapped ::ffff:0:0/96, carrying a public address', '::ffff:808:808', /^::ffff:808:808 is an IPv4-mapped address of 8\.8\.8\.8$/],
    ['IPv4-mapped ::ffff:0:0/96, carrying loopback', '::ffff:7f00:1', /of 127\.0\.0\.1, a loopback address$/],
    ['IPv4-translated ::ffff:0:0:0/96', '::ffff:0:808:808', /is an IPv4-translated address of 8\.8\.8\.8$/],
    ['Teredo 2001::/32', '2001:0:4136:e378:8000:63bf:3fff:fdd2', /is a Teredo address of 192\.0\.2\.45, a reserved address/],
    ['discard-only 100::/64', '100::1', /^100::1 is a discard-only address$/],
    ['documentation 2001:db8::/32', '2001:db8::1', /is a reserved address/],
    ['documentation 3fff::/20', '3fff::1', /is a reserved address/],
    ['IPv4-compatible ::/96 (deprecated)', '::808:808', /is outside the global unicast range \(2000::\/3\)$/],
    ['outside 2000::/3', '100:0:0:1::1', /is outside the global unicast range/],
    ['site-local fec0::/10', 'fec0::1', /is a private address$/],
  ];
  const literal = (address: string) => (address.includes(':') ? `[${address}]` : address);

  it.each(specialPurpose)('refuses a URL naming %s', async (_range, address, reason) => {
    const result = await checkWebhookUrl(`https://${literal(address)}/hooks`, {
      allowPrivate: false,
      resolveHost: () => Promise.reject(new Error('no DNS for literal addresses')),
    });
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.reason).toMatch(reason);
  });

  it.each(specialPurpose)('refuses a name that resolves to %s, without saying what it resolved to', async (_range, address) => {
    const result = await checkWebhookUrl('https://hooks.example.com/', {
      allowPrivate: false,
      resolveHost: async () => ['93.184.215.14', address],
    });
    expect(result).toEqual({ ok: false, reason: notPublic('hooks.example.com') });
    expect(result.ok ? '' : result.reason).not.toContain(address);
    expect(result.ok ? '' : result.reason).not.toContain('93.184.215.14');
  });

  it.each(specialPurpose)('refuses to deliver to a name that resolves to %s, before any request', async (_range, address) => {
    const result = await deliver({ url: 'https://hooks.example.com/hooks', allowPrivate: false, resolveHost: async () => [address] });
    expect(result).toMatchObject({ ok: false, status: null, error: notPublic('hooks.example.com') });
  });

  it.each(['8.8.8.8', '1.1.1.1', '93.184.215.14', '2606:4700:4700::1111', '2a00:1450:4001:81c::200e'])(
    'accepts the public address %s, as a literal and as what a name resolves to',
    async (address) => {
      const noDns = () => Promise.reject(new Error('no DNS for literal addresses'));
      expect(await checkWebhookUrl(`https://${literal(address)}/`, { allowPrivate: false, resolveHost: noDns })).toEqual({
        ok: true,
        addresses: [address],
      });
      const named = await checkWebhookUrl('https://hooks.example.com/', { allowPrivate: false, resolveHost: async () => [address] });
      expect(named).toEqual({ ok: true, addresses: [address] });
    },
  );
});
