// Outgoing webhooks as the Standard Webhooks spec says (https://www.standardwebhooks.com): one signed POST to
// an organization's URL. The URL is checked for addresses inside our network (loopback, private, link-local,
// cloud metadata) when it is registered and again right before each attempt, and the connection goes only to
// the addresses that check saw, so a DNS answer that changes in between (rebinding) cannot redirect it.
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, isIPv4, type LookupFunction } from 'node:net';

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
    const problem = options.allowPrivate ? null : describeNonPublic(host);
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
  if (!options.allowPrivate) {
    for (const address of addresses) {
      const problem = describeNonPublic(address);
      if (problem) return { ok: false, reason: `${name} resolves to ${address}, ${problem}` };
    }
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

/** Why an IP address is not on the public internet ("a loopback address"), or null when it is. */
function describeNonPublic(address: string): string | null {
  const ip = address.split('%')[0] ?? address;
  if (isIPv4(ip)) return ipv4Class(ip.split('.').map(Number));
  if (isIP(ip) !== 6) return 'not an IP address';
  const h = ipv6Hextets(ip);
  const v4 = (at: number) => [(h[at]! >> 8) & 255, h[at]! & 255, (h[at + 1]! >> 8) & 255, h[at + 1]! & 255];
  const zerosUpTo = (end: number) => h.slice(0, end).every((x) => x === 0);
  if (zerosUpTo(8)) return 'an unspecified address';
  if (zerosUpTo(7) && h[7] === 1) return 'a loopback address';
  // IPv4 carried in IPv6: mapped (::ffff:a.b.c.d), the old compatible form (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d)
  // all reach the IPv4 address, so they are judged as it.
  const embedded =
    (zerosUpTo(5) && h[5] === 0xffff) || zerosUpTo(6) || (h[0] === 0x64 && h[1] === 0xff9b && h.slice(2, 6).every((x) => x === 0));
  if (embedded) {
    const inner = v4(6);
    const problem = ipv4Class(inner);
    return problem ? `an IPv6 form of ${inner.join('.')}, ${problem}` : null;
  }
  const first = h[0]!;
  if ((first & 0xfe00) === 0xfc00) return 'a private address';
  if ((first & 0xffc0) === 0xfe80) return 'a link-local address';
  if ((first & 0xffc0) === 0xfec0) return 'a private address'; // site-local, deprecated but still routed inside networks
  if ((first & 0xff00) === 0xff00) return 'a multicast address';
  return null;
}

function ipv4Class([a = 0, b = 0, c = 0, d = 0]: number[]): string | null {
  if (a === 0) return 'an unspecified address';
  if (a === 127) return 'a loopback address';
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'a private address';
  if (a === 169 && b === 254) return 'a link-local address';
  if (a === 100 && b >= 64 && b <= 127) return 'a carrier-grade NAT address';
  if (a >= 224 && a <= 239) return 'a multicast address';
  if (a === 255 && b === 255 && c === 255 && d === 255) return 'a broadcast address';
  if (a >= 240) return 'a reserved address';
  return null;
}

/** The eight 16-bit groups of a valid IPv6 address, `::` expanded and a trailing dotted IPv4 split in two. */
function ipv6Hextets(address: string): number[] {
  const groups = (part: string) =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = address.split('::');
  if (tail === undefined) return groups(head);
  const before = groups(head);
  const after = groups(tail);
  return [...before, ...Array<number>(8 - before.length - after.length).fill(0), ...after];
}
