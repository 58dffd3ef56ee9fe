// Events: a task's live stream (Server-Sent Events) and an organization's list to catch up with. The database
// numbers each organization's events in commit order and announces them (LISTEN/NOTIFY), so any instance serves
// any task: a stream reads what is new whenever it hears of its task, and at each heartbeat in case it missed it;
// a process that cannot listen (no LISTEN connection: db/notices.ts) reads every pollingIntervalsMs.eventStreams.
// A notice names no tenant, only a token its task shares with many others: a stream also wakes, and reads
// nothing new, for about one in 4,096 of other tasks' events.
import type { components } from '../generated/api.js';
import { ApiError, validationError } from '../kernel/errors.js';
import type { RequestContext } from '../kernel/context.js';
import type { Caller } from '../kernel/caller.js';
import { withUser, type Db } from '../db/client.js';
import { noticesFor, pollingIntervalsMs } from '../db/notices.js';
import * as queries from '../db/queries/events.js';
import { asCaller, database } from './context.js';
import { requireOrganization } from './organizations.js';

type Event = components['schemas']['Event'];

/** A comment line this often keeps proxies from closing a quiet stream. */
const heartbeatMs = 15_000;
/** Events read at once. */
const batchSize = 200;
const finalTypes = new Set(['task.succeeded', 'task.failed', 'task.canceled', 'task.expired']);
const finalStatuses = new Set(['succeeded', 'failed', 'canceled', 'expired']);
const eventId = /^[0-9]{1,18}$/;

/** The event id a client resumes after (`Last-Event-ID` wins over `after`); 0: from the beginning. */
function position(lastEventId: string | undefined, after: string | undefined, field: string): bigint {
  const value = lastEventId ?? after;
  if (value === undefined || value === '') return 0n;
  if (!eventId.test(value)) throw validationError(field, 'must be an event id this API sent');
  return BigInt(value);
}

// One LISTEN per database for every stream of the process; streams register by their task's wake token, so a
// notice costs one map lookup whatever the number of streams.
interface Hub {
  byToken: Map<string, Set<() => void>>;
  /** Settles once LISTEN is in place, or failed (streams then poll). */
  listening: Promise<void>;
  /** Whether notices come: false until LISTEN is in place, and when it failed. */
  hears: boolean;
}
const hubs = new WeakMap<Db, Hub>();

function subscribe(db: Db, token: string, wake: () => void): { listening: Promise<void>; hears: () => boolean; unsubscribe: () => void } {
  let hub = hubs.get(db);
  if (!hub) {
    const byToken: Hub['byToken'] = new Map();
    // postgres.js keeps the listening connection and listens again after a reconnect; a stream that missed a
    // notice meanwhile reads it at its next heartbeat.
    const created: Hub = { byToken, listening: Promise.resolve(), hears: false };
    created.listening = noticesFor(db)
      .listen(queries.eventsChannel, (payload) => {
        for (const notify of byToken.get(payload) ?? []) notify();
      })
      .then(
        () => void (created.hears = true),
        // Streams poll; the next stream to open tries again (unless the process has no LISTEN connection).
        () => void (noticesFor(db).mode === 'listen' && hubs.delete(db)),
      );
    hubs.set(db, (hub = created));
  }
  const { byToken } = hub;
  const current = hub;
  const listeners = byToken.get(token) ?? new Set();
  byToken.set(token, listeners);
  listeners.add(wake);
  return {
    listening: hub.listening,
    hears: () => current.hears,
    unsubscribe: () => {
      listeners.delete(wake);
      if (listeners.size === 0) byToken.delete(token);
    },
  };
}

function message(event: Event): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** Whether the caller's access token has expired since the stream began (the client reconnects with a new one). */
function expired(caller: Caller): boolean {
  const exp = caller.claims.exp;
  return typeof exp === 'number' && exp * 1000 <= Date.now();
}

/**
 * A task's events as Server-Sent Events, from after `Last-Event-ID` (or `after`) until its final status. The
 * first read runs as the request (404 when the caller cannot see the task); later reads run as the caller in
 * short transactions of their own, so that a member removed, a key revoked or a token expired ends the stream.
 */
export async function openTaskEventStream(
  ctx: RequestContext,
  orgId: string,
  taskId: string,
  resume: { lastEventId?: string; after?: string },
): Promise<AsyncIterable<string>> {
  const after = position(resume.lastEventId, resume.after, resume.lastEventId !== undefined ? 'header.Last-Event-ID' : 'query.after');
  const first = await asCaller(ctx, async (tx) => {
    await requireOrganization(tx, orgId);
    return queries.taskEventsAfter(tx, orgId, taskId, after, batchSize);
  });
  if (!first) throw new ApiError('NOT_FOUND', 'Task not found.');
  const caller = ctx.caller!;
  const db = database(ctx);
  const token = await queries.eventWakeToken(db, taskId);
  const read = (from: bigint) =>
    withUser(db, caller.claims, (tx) => queries.taskEventsAfter(tx, orgId, taskId, from, batchSize), {
      deadline: Date.now() + 5_000,
      requireLiveKey: caller.kind === 'api_key',
    });
  return eventStream({ db, taskId, token, after, first, read, caller, log: ctx.log });
}

function eventStream(options: {
  db: Db;
  taskId: string;
  token: string;
  after: bigint;
  first: { status: string; events: Event[] };
  read: (after: bigint) => Promise<{ status: string; events: Event[] } | undefined>;
  caller: Caller;
  log: RequestContext['log'];
}): AsyncIterable<string> {
  let closed = false;
  // The first read ran before the stream listened: read once more when LISTEN is in place, so that an event
  // committed in between does not wait for the heartbeat.
  let notified = true;
  let wake: (() => void) | undefined;
  const { listening, hears, unsubscribe } = subscribe(options.db, options.token, () => {
    notified = true;
    wake?.();
  });
  const close = () => {
    closed = true;
    unsubscribe();
    wake?.();
  };
  /**
   * Until a notice for the task, the heartbeat (or, while no notices come, the polling interval) or the end of
   * the stream; true when there was a notice.
   */
  const nextNotice = (): Promise<boolean> =>
    new Promise((resolve) => {
      if (notified || closed) return resolve(notified);
      const timer = setTimeout(() => done(false), hears() ? heartbeatMs : Math.min(heartbeatMs, pollingIntervalsMs.eventStreams));
      const done = (heard: boolean) => {
        clearTimeout(timer);
        wake = undefined;
        resolve(heard);
      };
      wake = () => done(true);
    });

  async function* messages(): AsyncGenerator<string> {
    let last = options.after;
    let batch: { status: string; events: Event[] } | undefined = options.first;
    // How long a client waits before it reconnects after a dropped connection.
    yield 'retry: 2000\n\n';
    let written = Date.now();
    while (!closed && batch) {
      for (const event of batch.events) {
        yield message(event);
        written = Date.now();
        last = BigInt(event.id);
        if (finalTypes.has(event.type)) return;
      }
      // Nothing more will come for a task that has finished (its final event was before `last`).
      if (batch.events.length === 0 && finalStatuses.has(batch.status)) return;
      if (batch.events.length < batchSize) {
        const heard = await nextNotice();
        if (closed) return;
        // A stream that polls wakes more often than it needs a heartbeat.
        if (!heard && Date.now() - written >= heartbeatMs) {
          yield ': keep-alive\n\n';
          written = Date.now();
        }
        if (expired(options.caller)) return;
      }
      await listening;
      // Cleared before the read, not after: a notice that comes while it runs or its events go out is not lost.
      notified = false;
      batch = await options.read(last).catch((error: unknown) => {
        options.log.warn({ err: error, taskId: options.taskId }, 'task event stream ended by a failed read');
        return undefined;
      });
    }
  }

  const generator = messages();
  return {
    [Symbol.asyncIterator]() {
      return {
        next: () => generator.next(),
        // The client went away: stop waiting at once, then end the generator.
        return: async () => {
          close();
          return generator.return(undefined);
        },
      };
    },
  };
}

/** The organization's events after an id (or a page cursor), oldest first. */
export async function listOrganizationEvents(
  ctx: RequestContext,
  orgId: string,
  query: { after?: string; type?: queries.EventType; limit?: number; cursor?: string },
): Promise<{ items: Event[]; nextCursor: string | null }> {
  const limit = query.limit ?? 20;
  const after = query.cursor !== undefined ? decodeCursor(query.cursor) : position(undefined, query.after, 'query.after');
  const rows = await asCaller(ctx, async (tx) => {
    await requireOrganization(tx, orgId);
    return queries.organizationEventsAfter(tx, orgId, { after, type: query.type, limit: limit + 1 });
  });
  const items = rows.slice(0, limit);
  return { items, nextCursor: rows.length > limit ? encodeCursor(items.at(-1)!.id) : null };
}

function encodeCursor(id: string): string {
  return Buffer.from(`events:${id}`).toString('base64url');
}

function decodeCursor(cursor: string): bigint {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = text.startsWith('events:') ? text.slice('events:'.length) : '';
  if (!eventId.test(id)) throw validationError('query.cursor', 'is not a cursor this API returned');
  return BigInt(id);
}
