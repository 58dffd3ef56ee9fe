// Outgoing webhooks as the Standard Webhooks spec says (https://www.standardwebhooks.com): one signed POST to
// an organization's URL. The URL must reach only public unicast addresses (no loopback, private, link-local,
// cloud metadata or other special-purpose range) when it is registered and again right before each attempt, and
// the connection goes only to the addresses that check saw, so a DNS answer that changes in between (rebinding)
// cannot redirect it.
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, isIPv4, type LookupFunction } from 'node:net';
import type ipaddr from 'ipaddr.js';

export type WebhookUrlCheck = { ok: true; addresses: string[] } | { ok: false; reason: string };

/** Resolves a host name to all its addresses; the default asks the system resolver (node:dns lookup). */
export type ResolveHost = (hostname: string) => Promise<string[]>;

export interface SendWebhookOptions {
  url: string;
  /** `whsec_` and the base64 key. */
  secret: string;
  /** The `webhook-id`: the same on every retry of one delivery. */
  id: string;
  /** The time of this attempt; sent in Unix seconds. */
  timestamp: Date;
  body: string;
  timeoutMs?: number;
  /** How long the TCP connection may take to open, within `timeoutMs`: a dead host fails fast. */
  connectTimeoutMs?: number;
  maxResponseBytes?: number;
  allowPrivate: boolean;
  resolveHost?: ResolveHost;
}

export interface WebhookAttempt {
  ok: boolean;
  status: number | null;
  error: string | null;
  durationMs: number;
}

const userAgent = 'Staffroom-Webhooks/1';

/** A new signing secret: `whsec_` and 32 random bytes in base64. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

const resolveWithSystem: ResolveHost = async (hostname) => (await lookup(hostname, { all: true })).map((entry) => entry.address);

/**
 * Whether `url` may receive webhooks: http(s), no credentials, and unless `allowPrivate`, every address the host
 * resolves to is public. A literal IP is judged without DNS. `addresses` are the ones to connect to.
 */
export async function checkWebhookUrl(
  url: string,
  options: { allowPrivate: boolean; resolveHost?: ResolveHost },
): Promise<WebhookUrlCheck> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: 'the URL is not valid' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return { ok: false, reason: `the URL must start with http:// or https://, not ${parsed.protocol}` };
  }
  if (parsed.username || parsed.password) return { ok: false, reason: 'the URL must not contain a user name or password' };

  const host = bareHost(parsed.hostname);
  if (isIP(host)) {
    const problem = options.allowPrivate ? null : specialPurpose(await addressLibrary(), host);
    return problem ? { ok: false, reason: `${host} is ${problem}` } : { ok: true, addresses: [host] };
  }
  const name = host.replace(/\.$/, '');
  if (!options.allowPrivate && (name === 'localhost' || name.endsWith('.localhost'))) {
    return { ok: false, reason: `${name} is a local host name, which means this machine` };
  }

  let addresses: string[];
  try {
    addresses = await (options.resolveHost ?? resolveWithSystem)(host);
  } catch {
    return { ok: false, reason: `the host ${name} could not be resolved` };
  }
  if (addresses.length === 0) return { ok: false, reason: `the host ${name} could not be resolved` };
  // The reason never says which address a name resolved to: an admin could otherwise map the internal DNS.
  const library = options.allowPrivate ? undefined : await addressLibrary();
  if (library && addresses.some((address) => specialPurpose(library, address) !== null)) {
    return { ok: false, reason: `${name} resolves to an address that is not public (loopback, private or another special-purpose range)` };
  }
  return { ok: true, addresses };
}

/**
 * Sends one signed delivery and reports how it went; never throws. The URL is checked again first, redirects
 * are failures (a redirect could lead anywhere), and at most `maxResponseBytes` of the answer are read, then dropped.
 */
export async function sendWebhook(options: SendWebhookOptions): Promise<WebhookAttempt> {
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const finish = (status: number | null, error: string | null): WebhookAttempt => ({
    ok: error === null,
    status,
    error,
    durationMs: Math.round(performance.now() - started),
  });
  const timedOut = `timed out after ${timeoutMs} ms`;

  let signature: string;
  try {
    // Loaded on the first delivery: a process that never sends (a request handler) never loads it.
    const { Webhook } = await import('standardwebhooks');
    signature = new Webhook(options.secret).sign(options.id, options.timestamp, options.body);
  } catch {
    return finish(null, 'the signing secret is not a valid whsec_ secret');
  }

  let check: WebhookUrlCheck | 'timeout';
  let timer: NodeJS.Timeout | undefined;
  try {
    check = await Promise.race([
      checkWebhookUrl(options.url, { allowPrivate: options.allowPrivate, resolveHost: options.resolveHost }),
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
  }
  if (check === 'timeout') return finish(null, timedOut);
  if (!check.ok) return finish(null, check.reason);

  const outcome = await postPinned({
    url: new URL(options.url),
    addresses: check.addresses,
    headers: {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(options.body)),
      'user-agent': userAgent,
      'webhook-id': options.id,
      'webhook-timestamp': String(Math.floor(options.timestamp.getTime() / 1000)),
      'webhook-signature': signature,
    },
    body: options.body,
    timeoutMs: Math.max(0, timeoutMs - (performance.now() - started)),
    connectTimeoutMs: options.connectTimeoutMs ?? 3_000,
    maxResponseBytes: options.maxResponseBytes ?? 64 * 1024,
  });
  if ('error' in outcome) return finish(outcome.status ?? null, outcome.error === 'timeout' ? timedOut : outcome.error);
  const { status, location } = outcome;
  if (status >= 200 && status < 300) return finish(status, null);
  if (status >= 300 && status < 400) {
    const target = location ? ` to ${location}` : '';
    return finish(status, `the endpoint answered ${status}, a redirect${target}; redirects are not followed`);
  }
  return finish(status, `the endpoint answered ${status}`);
}

type PostOutcome = { status: number; location: string | undefined } | { status?: number; error: string };

function postPinned(input: {
  url: URL;
  addresses: string[];
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  connectTimeoutMs: number;
  maxResponseBytes: number;
}): Promise<PostOutcome> {
  const { url, addresses } = input;
  return new Promise((resolve) => {
    let settled = false;
    let req: ClientRequest | undefined;
    const settle = (outcome: PostOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      settle({ error: 'timeout' });
      req?.destroy();
    }, input.timeoutMs);

    const hostname = bareHost(url.hostname);
    const requestOptions: RequestOptions & { servername?: string } = {
      method: 'POST',
      headers: input.headers,
      // A fresh connection each time: a pooled socket may have been opened to an address checked under other rules.
      agent: false,
      lookup: pinnedLookup(addresses),
      // TLS still verifies the certificate against the URL's name, whichever checked address is dialled.
      ...(url.protocol === 'https:' && !isIP(hostname) ? { servername: hostname } : {}),
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;

    try {
      req = send(url, requestOptions, (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        const answered = { status, location: res.headers.location };
        let received = 0;
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received >= input.maxResponseBytes) {
            settle(answered);
            res.destroy();
          }
        });
        res.on('end', () => settle(answered));
        // The receiver answered; a body cut short afterwards does not change what it said.
        res.on('error', () => settle(answered));
        res.on('close', () => settle(answered));
      });
    } catch (error) {
      settle({ error: describeRequestError(error, url.host) });
      return;
    }
    req.on('error', (error) => settle({ error: describeRequestError(error, url.host) }));
    req.on('socket', (socket) => {
      if (!socket.connecting) return;
      // A host that never completes the handshake is given up on long before the answer's deadline.
      const connectTimer = setTimeout(() => {
        settle({ error: `connecting to ${url.host} timed out after ${input.connectTimeoutMs} ms` });
        req?.destroy();
      }, input.connectTimeoutMs);
      socket.once('connect', () => clearTimeout(connectTimer));
      socket.once('close', () => clearTimeout(connectTimer));
    });
    req.end(input.body);
  });
}

/** A resolver for the socket that only ever answers with the addresses already checked. */
function pinnedLookup(addresses: string[]): LookupFunction {
  const entries = addresses.map((address) => ({ address, family: isIPv4(address) ? 4 : 6 }));
  return (hostname, options, callback) => {
    const wanted = options.family === 4 || options.family === 6 ? entries.filter((e) => e.family === options.family) : entries;
    process.nextTick(() => {
      if (options.all) return callback(null, wanted);
      const first = wanted[0];
      if (!first) return callback(Object.assign(new Error(`no checked address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
}

function describeRequestError(error: unknown, host: string): string {
  const code = errorCode(error);
  switch (code) {
    case 'ECONNREFUSED':
      return `${host} refused the connection`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `${host} closed the connection before answering`;
    case 'ETIMEDOUT':
      return `connecting to ${host} timed out`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${host} is unreachable`;
    case 'ENOTFOUND':
      return `the host ${host} could not be resolved`;
  }
  if (code && (code.startsWith('ERR_TLS_') || /CERT|SSL/.test(code))) return `the TLS certificate of ${host} was refused (${code})`;
  // A socket error's message names the address dialled, which is what the host name resolved to: the code alone.
  if (code) return `the request to ${host} failed (${code})`;
  const message = error instanceof Error && error.message ? error.message : 'unknown error';
  return `the request to ${host} failed: ${message}`;
}

/** The error's code; for a connection that tried several addresses (AggregateError), the first attempt's. */
function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  if (error instanceof AggregateError) return errorCode(error.errors[0]);
  return undefined;
}

/** A URL's hostname as an address: `[::1]` → `::1`. */
function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

let loadingAddressLibrary: Promise<typeof ipaddr> | undefined;
/** ipaddr.js, loaded on the first check: a request that registers no webhook never parses it. */
function addressLibrary(): Promise<typeof ipaddr> {
  return (loadingAddressLibrary ??= import('ipaddr.js').then((module) => module.default));
}

/** What each special-purpose range of ipaddr.js is, for a refusal's reason; a range it adds later reads as the fallback. */
const rangeNames: Record<string, string> = {
  unspecified: 'an unspecified address',
  broadcast: 'a broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address',
  loopback: 'a loopback address',
  carrierGradeNat: 'a carrier-grade NAT address',
  private: 'a private address',
  uniqueLocal: 'a private address',
  deprecatedSiteLocal: 'a private address', // site-local: deprecated, still routed inside networks
  reserved: 'a reserved address (documentation, benchmarking or other special use)',
  benchmarking: 'a benchmarking address',
  as112: 'an AS112 DNS sink address',
  as112v6: 'an AS112 DNS sink address',
  amt: 'an AMT relay address',
  discard: 'a discard-only address',
  ipv4Mapped: 'an IPv4-mapped address',
  rfc6145: 'an IPv4-translated address',
  rfc6052: 'a NAT64 address',
  '6to4': 'a 6to4 address',
  teredo: 'a Teredo address',
};

/**
 * Why an IP address may not receive webhooks, or null when it may. ipaddr.js classifies it by the IANA
 * special-purpose registries for IPv4 and IPv6, and only `unicast` passes: loopback, private, shared (CGNAT),
 * link-local (cloud metadata), documentation, benchmarking (198.18.0.0/15), IETF protocol assignments
 * (192.0.0.0/24), reserved, multicast, broadcast and discard (100::/64) reach inside networks or nowhere. The
 * forms that carry an IPv4 address inside IPv6 (IPv4-mapped ::ffff:0:0/96, IPv4-translated, NAT64 64:ff9b::/96
 * and 64:ff9b:1::/48, 6to4 2002::/16, Teredo 2001::/32) are refused whatever they carry, since a translator or
 * relay would connect to an IPv4 address this check never judged; the embedded address is judged too, to say
 * what it is. IPv6 must also lie in 2000::/3, the only block IANA allocates as global unicast.
 */
function specialPurpose(library: typeof ipaddr, text: string): string | null {
  const bare = text.split('%')[0] ?? text;
  if (!isIP(bare)) return 'not an IP address';
  const address = library.parse(bare);
  const range = address.range();
  if (address.kind() === 'ipv4') return range === 'unicast' ? null : describeRange(range);
  const v6 = address as ipaddr.IPv6;
  if (range === 'unicast') return (v6.parts[0]! & 0xe000) === 0x2000 ? null : 'outside the global unicast range (2000::/3)';
  const inner = embeddedIPv4(library, v6, range);
  if (!inner) return describeRange(range);
  const innerRange = inner.range();
  const innerProblem = innerRange === 'unicast' ? '' : `, ${describeRange(innerRange)}`;
  return `${describeRange(range)} of ${inner.toString()}${innerProblem}`;
}

function describeRange(range: string): string {
  return rangeNames[range] ?? 'a special-purpose address';
}

/** The IPv4 address an IPv6 one carries, where its range puts it at a fixed place. */
function embeddedIPv4(library: typeof ipaddr, address: ipaddr.IPv6, range: string): ipaddr.IPv4 | undefined {
  const [, p1 = 0, p2 = 0, , , , p6 = 0, p7 = 0] = address.parts;
  const v4 = (high: number, low: number) => new library.IPv4([high >> 8, high & 255, low >> 8, low & 255]);
  switch (range) {
    case 'ipv4Mapped':
    case 'rfc6145':
      return v4(p6, p7);
    case 'rfc6052':
      // The well-known prefix 64:ff9b::/96 puts it last; the local-use 64:ff9b:1::/48 lets each network choose.
      return p2 === 0 ? v4(p6, p7) : undefined;
    case '6to4':
      return v4(p1, p2);
    case 'teredo':
      // The client's public address, every bit inverted (RFC 4380); traffic to the address goes there.
      return v4(~p6 & 0xffff, ~p7 & 0xffff);
    default:
      return undefined;
  }
}
