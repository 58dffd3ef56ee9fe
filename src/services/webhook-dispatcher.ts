// Sends the outbox: each webhook delivery the database queued with its event, signed, to its endpoint; retried
// with exponential backoff for 3 days; an endpoint whose deliveries all fail for 3 days is disabled. At least
// once: a delivery is marked delivered only after a 2xx, and `webhook-id` (the delivery's id) is the same on
// every attempt, so receivers deduplicate on it. Each endpoint has at most one delivery in flight and each
// delivery finishes on its own, so a slow or dead endpoint delays only its own deliveries. Runs as the service role.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { withService, type Db } from '../db/client.js';
import { noticesFor, NoticesOff, pollingIntervalsMs } from '../db/notices.js';
import * as queries from '../db/queries/webhook-endpoints.js';
import { eventsChannel } from '../db/queries/events.js';
import { sendWebhook, type ResolveHost } from '../integrations/webhooks.js';

const reason = 'the webhook dispatcher sends the events of every organization';

/** After the first attempt: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, then every 12 h: 3 days in all. */
const defaultRetryDelaysMs = [5, 30, 120, 600, 1_800, 3_600, 7_200, 14_400, 28_800, 43_200, 43_200, 43_200, 43_200, 43_200].map(
  (seconds) => seconds * 1_000,
);
const threeDaysMs = 3 * 24 * 3_600_000;

export interface DispatcherOptions {
  db: Db;
  log: Logger;
  /** Send to private and loopback addresses too (WEBHOOKS_ALLOW_PRIVATE_URLS=true, local development only). */
  allowPrivate: boolean;
  /** The delay before each retry; past the last one, a delivery has failed. */
  retryDelaysMs?: readonly number[];
  /** How long every delivery to an endpoint may fail before it is disabled. */
  disableAfterMs?: number;
  /** Deliveries sent at once, each to a different endpoint. */
  concurrency?: number;
  /** How often it looks for due deliveries without being told of an event (retries fall due unannounced). */
  pollMs?: number;
  /** How often it looks when it cannot listen for events (no LISTEN connection); at most pollMs. */
  unheardPollMs?: number;
  timeoutMs?: number;
  /** How long opening the connection to an endpoint may take. */
  connectTimeoutMs?: number;
  resolveHost?: ResolveHost;
}

export interface Dispatcher {
  /** Sends every delivery due now, each as soon as there is room; resolves with how many were attempted. */
  drain(): Promise<number>;
  start(): void;
  wake(): void;
  stop(): Promise<void>;
}

export function createWebhookDispatcher(options: DispatcherOptions): Dispatcher {
  const owner = `dispatcher-${randomUUID().slice(0, 8)}`;
  const { db, log } = options;
  const delays = options.retryDelaysMs ?? defaultRetryDelaysMs;
  const disableAfterMs = options.disableAfterMs ?? threeDaysMs;
  const concurrency = options.concurrency ?? 16;
  const pollMs = options.pollMs ?? 5_000;
  const unheardPollMs = Math.min(pollMs, options.unheardPollMs ?? pollingIntervalsMs.webhooks);
  const notices = noticesFor(db);
  // What it sleeps between looks: the safety net while notices come, the polling interval while none can.
  let idleMs = notices.mode === 'poll' ? unheardPollMs : pollMs;
  const timeoutMs = options.timeoutMs ?? 10_000;
  // A delivery whose sender died is sent again after this; well past an attempt's own time limit.
  const leaseMs = Math.max(30_000, timeoutMs * 3);
  let stopping = false;
  let loop: Promise<void> | undefined;
  let listening: Promise<{ unlisten(): Promise<void> } | undefined> | undefined;
  let sleeper: (() => void) | undefined;
  const inFlight = new Map<string, Promise<void>>();
  // A wake that came while no one slept (during a claim) is not lost: the next sleep returns at once.
  let woken = false;

  async function attempt(delivery: queries.DueDelivery): Promise<void> {
    const result = await sendWebhook({
      url: delivery.url,
      secret: delivery.secret,
      id: delivery.id,
      timestamp: new Date(),
      body: JSON.stringify(delivery.payload),
      timeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
      allowPrivate: options.allowPrivate,
      resolveHost: options.resolveHost,
    });
    const delay = delays[delivery.attempts];
    const retryAt = result.ok || delay === undefined ? null : new Date(Date.now() + delay);
    const disabled = await withService(db, reason, async (tx) => {
      if (!(await queries.recordAttempt(tx, delivery.id, owner, { ...result, retryAt }))) return false;
      return queries.recordEndpointHealth(tx, delivery.endpointId, result.ok, disableAfterMs);
    });
    const line = { deliveryId: delivery.id, endpointId: delivery.endpointId, attempt: delivery.attempts + 1, status: result.status };
    if (result.ok) log.info(line, 'webhook delivered');
    else log.warn({ ...line, error: result.error, retryAt }, retryAt ? 'webhook attempt failed; will retry' : 'webhook delivery failed');
    if (disabled) log.warn({ endpointId: delivery.endpointId }, 'webhook endpoint disabled after failing for days');
  }

  /** Claims what is due while there is room and starts sending each, without waiting for any; how many it started. */
  async function claimAndSend(): Promise<number> {
    const room = concurrency - inFlight.size;
    if (room <= 0 || stopping) return 0;
    const due = await withService(db, reason, (tx) => queries.claimDeliveries(tx, owner, leaseMs, room));
    for (const delivery of due) {
      const sending = attempt(delivery)
        .catch((error: unknown) => log.error({ err: error, deliveryId: delivery.id }, 'webhook attempt not recorded'))
        .finally(() => {
          inFlight.delete(delivery.id);
          // Room for another, and its endpoint may have more due.
          wake();
        });
      inFlight.set(delivery.id, sending);
    }
    return due.length;
  }

  async function drain(): Promise<number> {
    let attempted = 0;
    try {
      while (!stopping) {
        const started = await claimAndSend();
        attempted += started;
        if (started > 0) continue;
        if (inFlight.size === 0) break;
        // Whichever send ends first makes room; the slowest holds only its own slot.
        await Promise.race(inFlight.values());
      }
    } finally {
      await Promise.all(inFlight.values());
    }
    return attempted;
  }

  function sleep(): Promise<void> {
    return new Promise((resolve) => {
      if (woken) {
        resolve();
        return;
      }
      const timer = setTimeout(done, idleMs);
      function done() {
        clearTimeout(timer);
        sleeper = undefined;
        resolve();
      }
      sleeper = done;
    });
  }

  async function run(): Promise<void> {
    while (!stopping) {
      let started = 0;
      woken = false;
      try {
        started = await claimAndSend();
      } catch (error) {
        log.error({ err: error }, 'claiming webhook deliveries failed; retrying');
      }
      // Woken by an event, by a send that ended, or by the poll.
      if (started === 0 && !stopping) await sleep();
    }
    await Promise.all(inFlight.values());
  }

  function wake(): void {
    woken = true;
    sleeper?.();
  }

  return {
    drain,
    wake,
    start() {
      // Every event may queue deliveries in its transaction: its notice is the moment to look.
      listening ??= notices.listen(eventsChannel, wake).catch((error: unknown) => {
        // Without a LISTEN connection the start-up log said so; a LISTEN that failed here is said now.
        if (!(error instanceof NoticesOff))
          log.warn({ err: error }, `not listening for events; looking for due webhooks every ${unheardPollMs} ms`);
        idleMs = unheardPollMs;
        wake();
        return undefined;
      });
      loop ??= run();
    },
    async stop() {
      stopping = true;
      wake();
      await loop;
      await (await listening)?.unlisten().catch(() => undefined);
    },
  };
}
