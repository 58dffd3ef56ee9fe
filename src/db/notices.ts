// How the service hears of changes without asking (LISTEN/NOTIFY): queued tasks (the worker), cancel requests
// (running model calls), new events (event streams and the webhook dispatcher). Every LISTEN of the process goes
// through here, on the connection config.ts names (listenConnection). A pooler in transaction mode accepts LISTEN
// and delivers nothing, so the connection is checked at start with a notice of its own; when there is none, or it
// hears nothing, each of those features polls at the intervals below, and the start-up log says so once.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ListenConnection } from '../config.js';
import { withTimeLimit } from '../time-limit.js';
import { connect, type Db } from './client.js';
import { describeDatabaseUrl } from './urls.js';

/** How often each feature asks the database when it hears no notices. */
export const pollingIntervalsMs = {
  /** Idle worker lanes look for queued tasks. */
  tasks: 1_000,
  /** A running model call asks whether its task was asked to stop. */
  cancelRequests: 500,
  /** The webhook dispatcher looks for due deliveries. */
  webhooks: 1_000,
  /** An open event stream reads its task's new events. */
  eventStreams: 1_000,
} as const;

/** How long the start-up check waits for its own notice. */
const checkMs = 3_000;

/** Refused by listen() when the process has no LISTEN connection (the start-up log said so already). */
export class NoticesOff extends Error {
  override name = 'NoticesOff';
}

export interface Listener {
  unlisten(): Promise<void>;
}

export interface Notices {
  /** `listen`: notices arrive over LISTEN; `poll`: they never do, and every feature polls. */
  readonly mode: 'listen' | 'poll';
  /** Calls `onNotify` with each notice's payload; rejects (NoticesOff in `poll` mode) when it cannot listen. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<Listener>;
  close(): Promise<void>;
}

const registered = new WeakMap<Db, Notices>();

/** The notices the LISTEN users of `db` go through: those opened for it, else LISTEN on its own pool's URL. */
export function noticesFor(db: Db): Notices {
  return registered.get(db) ?? sameConnection(db);
}

/** Routes every LISTEN of `db`'s users through `notices` (npm start and the Netlify function register theirs). */
export function useNotices(db: Db, notices: Notices): void {
  registered.set(db, notices);
}

/** LISTEN on a connection of `db`'s own (its URL's); the default of a pool nothing was registered for. */
function sameConnection(db: Db): Notices {
  return { mode: 'listen', listen: (channel, onNotify) => db.listen(channel, onNotify), close: () => Promise.resolve() };
}

/** No LISTEN: every feature polls. */
export function pollingNotices(): Notices {
  return {
    mode: 'poll',
    listen: () => Promise.reject(new NoticesOff('no LISTEN connection: polling')),
    close: () => Promise.resolve(),
  };
}

/** LISTEN on `url`, on a connection of its own, opened on the first listen(). */
function listenOn(url: string): Notices & { db: Db } {
  const db = connect(url, { max: 1 });
  return { mode: 'listen', db, listen: (channel, onNotify) => db.listen(channel, onNotify), close: () => db.end({ timeout: 5 }) };
}

/**
 * The notices of a process whose queries go through `db`: on `connection`, checked with a notice sent through
 * `db` unless `check` is false; polling when there is no connection or it heard nothing. Says once, in the log,
 * which it is.
 */
export async function openNotices(
  db: Db,
  connection: ListenConnection,
  log: Logger,
  options: { check?: boolean; features?: readonly Feature[] } = {},
): Promise<Notices> {
  let reason: string;
  if (connection.kind === 'off') reason = connection.reason;
  else {
    const where = `${describeDatabaseUrl(connection.url)} (${connection.source})`;
    const notices = listenOn(connection.url);
    const problem = options.check === false ? undefined : await hearsItself(notices, db, where);
    if (!problem) {
      log.info({ listen: where }, `LISTEN on ${where}: queued tasks, cancel requests and new events are heard at once`);
      return notices;
    }
    await notices.close().catch(() => undefined);
    reason = problem;
  }
  const features = options.features ?? allFeatures;
  const pollingMs = Object.fromEntries(features.map((feature) => [feature, pollingIntervalsMs[feature]]));
  log.warn({ reason, pollingMs }, pollingMessage(reason, features));
  return pollingNotices();
}

export type Feature = keyof typeof pollingIntervalsMs;
const allFeatures: readonly Feature[] = ['tasks', 'cancelRequests', 'webhooks', 'eventStreams'];
const polls: Record<Feature, string> = {
  tasks: 'the worker looks for queued tasks',
  cancelRequests: 'running tasks ask whether they were canceled',
  webhooks: 'the webhook dispatcher looks for due deliveries',
  eventStreams: 'event streams read new events',
};

/** The start-up line of a process that polls: what polls, how often, and how to hear instead. */
export function pollingMessage(reason: string, features: readonly Feature[] = allFeatures): string {
  const each = features.map((feature) => `${polls[feature]} every ${pollingIntervalsMs[feature] / 1_000} s`);
  const list = each.length > 1 ? `${each.slice(0, -1).join(', ')} and ${each.at(-1)}` : (each[0] ?? '');
  return (
    `No LISTEN connection (${reason}): polling instead; ${list}. ` +
    'Set DATABASE_LISTEN_URL to a session-mode pooler or a direct connection to hear of them at once.'
  );
}

/** Undefined when a notice sent through `db` reaches the LISTEN connection within checkMs; else why not. */
async function hearsItself(notices: Notices, db: Db, where: string): Promise<string | undefined> {
  const channel = `staffroom_check_${randomBytes(8).toString('hex')}`;
  let heard: () => void = () => undefined;
  const notice = new Promise<true>((resolve) => (heard = () => resolve(true)));
  let listener: Listener;
  try {
    listener = await withTimeLimit(notices.listen(channel, heard), checkMs, () => new Error(`no answer within ${checkMs} ms`));
  } catch (error) {
    return `LISTEN on ${where} failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await db`select pg_notify(${channel}, '')`;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), checkMs)));
    if (await Promise.race([notice, late])) return undefined;
    return `LISTEN on ${where} heard no notice within ${checkMs} ms: a pooler in transaction mode?`;
  } catch (error) {
    return `the notice to check LISTEN on ${where} was not sent: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    clearTimeout(timer);
    await listener.unlisten().catch(() => undefined);
  }
}
