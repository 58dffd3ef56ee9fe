// Following a task: its live events (Server-Sent Events read with fetch, since a browser's EventSource cannot
// send credentials), and waiting for its result, by the stream where the service offers it, else by polling.
import type { components, paths } from './generated/api.js';
import { clientInternals, retryAfterMs, sleep, type StaffroomClient } from './client.js';
import { StaffroomError, StaffroomNetworkError, StaffroomTimeoutError } from './errors.js';
import { paginate } from './pagination.js';
import { readServerSentEvents } from './sse.js';

export type Task = components['schemas']['Task'];
export type TaskStatus = components['schemas']['TaskStatus'];
/**
 * An event of a task's stream (or of the organization's list), from the contract's `Event`: a union told apart
 * by `type`, so `event.type === 'task.succeeded'` narrows `event.data` to the Task and `'task.output_delta'`
 * to `{ step, attempt, text }`. The service may add types: a `switch` over them wants a `default`.
 */
export type Event = components['schemas']['Event'];
export type EventType = Event['type'];
/** The event of one type: `EventOf<'task.step_completed'>['data']['usage']`. */
export type EventOf<T extends EventType> = Extract<Event, { type: T }>;

const eventsPath = '/v1/organizations/{orgId}/tasks/{taskId}/events' satisfies keyof paths;

const finalStatuses: ReadonlySet<string> = new Set<TaskStatus>(['succeeded', 'failed', 'canceled', 'expired']);
const finalEventTypes: ReadonlySet<string> = new Set<EventType>(['task.succeeded', 'task.failed', 'task.canceled', 'task.expired']);

/** A final task will not change any more; `requires_action` is not final (it waits for tool outputs). */
export function isFinalStatus(status: TaskStatus): boolean {
  return finalStatuses.has(status);
}

export interface StreamTaskEventsOptions {
  /** Start after this event id (as received in `Event.id`); from the task's first event without one. */
  lastEventId?: string;
  signal?: AbortSignal;
  /** Reconnections in a row without a new event before giving up (default 5). */
  maxReconnects?: number;
}

/** A message whose data is not an Event: the stream is not what the contract says, so reconnecting would not help. */
class MalformedEventError extends Error {
  override readonly name = 'MalformedEventError';
}

/**
 * The task's events, from its first one (or after `lastEventId`) until the service ends the stream after the
 * task's final status. A connection that drops, or that the service closes before the final status (it does
 * when the access token expires), is resumed with `Last-Event-ID`, so nothing is missed or repeated; after
 * `maxReconnects` connections in a row that bring nothing new, a dropped one throws StaffroomNetworkError and a
 * closed one ends the iteration. Throws StaffroomError when the service refuses the stream (404 for a task the
 * caller cannot see).
 *
 *     for await (const event of streamTaskEvents(client, orgId, taskId)) console.log(event.type);
 */
export function streamTaskEvents(
  client: StaffroomClient,
  orgId: string,
  taskId: string,
  options: StreamTaskEventsOptions = {},
): AsyncGenerator<Event, void, undefined> {
  return taskEvents(client, orgId, taskId, options, async () => true);
}

/** `beforeReconnect` may stop the stream instead of reconnecting (false). */
async function* taskEvents(
  client: StaffroomClient,
  orgId: string,
  taskId: string,
  options: StreamTaskEventsOptions,
  beforeReconnect: () => Promise<boolean>,
): AsyncGenerator<Event, void, undefined> {
  const { baseUrl, headers, authorize, send } = clientInternals(client);
  const url = baseUrl + eventsPath.replace('{orgId}', encodeURIComponent(orgId)).replace('{taskId}', encodeURIComponent(taskId));
  const maxReconnects = options.maxReconnects ?? 5;
  let lastEventId = options.lastEventId;
  let reconnectMs = 1_000;
  let fruitless = 0;
  let dropped = false;

  for (let connection = 0; ; connection++) {
    if (connection > 0) {
      if (!(await beforeReconnect())) return;
      // As EventSource: the stream's `retry` after a close; growing while connections keep failing.
      await sleep(dropped && fruitless > 1 ? backoff(reconnectMs, fruitless) : reconnectMs, options.signal);
    }
    dropped = true;
    const aborter = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, aborter.signal]) : aborter.signal;
    const requestHeaders = new Headers(headers);
    requestHeaders.set('Accept', 'text/event-stream');
    if (lastEventId !== undefined) requestHeaders.set('Last-Event-ID', lastEventId);
    await authorize(requestHeaders);
    let progressed = false;
    try {
      let response: Response;
      try {
        response = await send(new Request(url, { headers: requestHeaders, signal }), { timeout: false });
      } catch (error) {
        if (options.signal?.aborted || !(error instanceof StaffroomNetworkError) || ++fruitless > maxReconnects) throw error;
        continue;
      }
      if (!response.ok) throw StaffroomError.fromResponse(response, await bodyOf(response));
      if (!/^text\/event-stream\b/i.test(response.headers.get('content-type') ?? '') || !response.body) {
        await response.body?.cancel().catch(() => undefined);
        throw new StaffroomError({
          code: 'UNAVAILABLE',
          status: response.status,
          message: `${eventsPath} answered ${response.headers.get('content-type') ?? 'no body'}, not an event stream.`,
          requestId: response.headers.get('x-request-id') ?? undefined,
          response,
        });
      }
      try {
        for await (const message of readServerSentEvents(response.body, (ms) => (reconnectMs = ms))) {
          const event = parseEvent(message.data);
          // A resumed stream starts after the last id sent, so an id not past it is a repeat.
          if (lastEventId !== undefined && !isAfter(event.id, lastEventId)) continue;
          lastEventId = message.lastEventId ?? event.id;
          progressed = true;
          fruitless = 0;
          yield event;
          if (finalEventTypes.has(event.type)) return;
        }
        dropped = false;
        if (!progressed && ++fruitless > maxReconnects) return;
      } catch (error) {
        if (options.signal?.aborted || error instanceof MalformedEventError) throw error;
        if (!progressed && ++fruitless > maxReconnects) {
          throw new StaffroomNetworkError(`The event stream of task ${taskId} keeps dropping.`, { cause: error });
        }
      }
    } finally {
      // Also when the caller stops iterating early: the connection is closed, not left open.
      aborter.abort();
    }
  }
}

/** Whether event id `id` comes after `last` (decimal positions; other ids are compared as different). */
function isAfter(id: string, last: string): boolean {
  return /^\d+$/.test(id) && /^\d+$/.test(last) ? BigInt(id) > BigInt(last) : id !== last;
}

export interface WaitForTaskOptions {
  /** Called with each event of the task's stream, in order (not called while polling). */
  onEvent?: (event: Event) => void | Promise<void>;
  signal?: AbortSignal;
  /** Reject with StaffroomTimeoutError after this long. */
  timeoutMs?: number;
  /**
   * `false` (the default): resolve when the task is final or waits in `requires_action` for tool outputs, so
   * that the caller can send them. `true`: resolve only when it is final (someone else sends the outputs).
   * With `tree`, the same holds for every task under it: see `waitForTask`.
   */
  untilFinal?: boolean;
  /**
   * For a team task (`toolUse: team`): also wait for the tasks under it, its members and theirs (for the root,
   * the whole team). Without it, a team task settles on its own status alone. No effect on other tasks.
   */
  tree?: boolean;
}

/**
 * Resolves with the task once it is final (`succeeded`, `failed`, `canceled` or `expired`) or, unless
 * `untilFinal`, waits in `requires_action`. Follows the task's event stream; where the stream is not
 * available (a mock, a proxy that buffers, an older service) it polls `getTask` instead, every 250 ms growing
 * to 2 s, or as `Retry-After` says. `waiting_for_team` (a team task waiting for its members) never settles it.
 *
 * With `tree: true` and a team task (`toolUse: team`), it waits for the tasks under it too: it resolves with the
 * task once the task is final and so is every task under it (its members, and theirs: for a team's root, every
 * task `listTeam` lists), so that `treeCostCredits` is the whole tree's. Unless `untilFinal`, it also resolves
 * as soon as one of them waits in `requires_action`: with the task itself if it does, else with that member
 * (the oldest such), whose `pendingToolCalls` the caller runs and sends to the member's own
 * `…/tasks/{memberId}/tool-outputs` before waiting again; with `untilFinal: true` only the final tree settles
 * it. It checks the team at each event of the task's stream and otherwise every 250 ms growing to 2 s (a
 * member's own events are on its own stream). `onEvent` gets the task's own events only: all of them, its final
 * one last, when the wait resolves with the final task; those that came so far when it resolves with a member.
 *
 *     for (;;) {
 *       const task = await waitForTask(client, orgId, rootId, { tree: true });
 *       if (task.status !== 'requires_action') break; // the root is final, and every member with it
 *       await sendOutputs(task.id, await run(task.pendingToolCalls));
 *     }
 */
export async function waitForTask(client: StaffroomClient, orgId: string, taskId: string, options: WaitForTaskOptions = {}): Promise<Task> {
  const deadline = new AbortController();
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(
          () => deadline.abort(new StaffroomTimeoutError(`Task ${taskId} did not finish within ${options.timeoutMs} ms.`)),
          options.timeoutMs,
        );
  const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
  const settles = (status: TaskStatus): boolean => finalStatuses.has(status) || (!options.untilFinal && status === 'requires_action');
  try {
    if (options.tree) {
      const { data } = await getTask(client, orgId, taskId, signal);
      // Only a team task has tasks under it: any other is waited for exactly as without `tree`.
      if (data.toolUse === 'team') return await waitForTree(client, orgId, data, options, signal);
    }
    return (
      (await followStream(client, orgId, taskId, settles, options.onEvent, signal)) ?? (await poll(client, orgId, taskId, settles, signal))
    );
  } catch (error) {
    if (deadline.signal.aborted && !options.signal?.aborted) throw deadline.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** The settled task, as the stream showed it; undefined when the stream is not available here. */
async function followStream(
  client: StaffroomClient,
  orgId: string,
  taskId: string,
  settles: (status: TaskStatus) => boolean,
  onEvent: WaitForTaskOptions['onEvent'],
  signal: AbortSignal,
): Promise<Task | undefined> {
  let settled: Task | undefined;
  // Before following a closed or dropped stream again: the task may have settled meanwhile (or a mock's
  // canned stream may never tell).
  const beforeReconnect = async (): Promise<boolean> => {
    const { data } = await getTask(client, orgId, taskId, signal);
    if (settles(data.status)) settled = data;
    return settled === undefined;
  };
  try {
    for await (const event of taskEvents(client, orgId, taskId, { signal }, beforeReconnect)) {
      await onEvent?.(event);
      const status = event.type.startsWith('task.') ? (event.type.slice('task.'.length) as TaskStatus) : undefined;
      if (status && settles(status)) {
        const { data } = await getTask(client, orgId, taskId, signal);
        if (settles(data.status)) return data;
      }
    }
    return settled;
  } catch (error) {
    if (signal.aborted) throw error;
    if (streamUnavailable(error)) return undefined;
    if (error instanceof StaffroomNetworkError) return undefined;
    throw error;
  }
}

/**
 * Every member of a team: the tasks whose `rootTaskId` is `rootTaskId` (any depth, oldest first), page after page.
 * The root itself is not among them (`getTask` it). Empty for a task that started no member.
 */
export async function listTeam(
  client: StaffroomClient,
  orgId: string,
  rootTaskId: string,
  options: { signal?: AbortSignal } = {},
): Promise<Task[]> {
  const members: Task[] = [];
  for await (const task of paginate(
    client,
    '/v1/organizations/{orgId}/tasks',
    { path: { orgId }, query: { rootTaskId, limit: 100 } },
    options,
  ))
    members.push(task);
  return members.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/** The tasks under `taskId` among a team's members: its members, theirs, and so on. */
function tasksUnder(taskId: string, team: Task[]): Task[] {
  const under = new Set([taskId]);
  // Members come after their parents (oldest first), but a pass per level does not depend on it.
  for (let grew = true; grew;) {
    grew = false;
    for (const member of team) {
      if (member.parentTaskId !== null && under.has(member.parentTaskId) && !under.has(member.id)) {
        under.add(member.id);
        grew = true;
      }
    }
  }
  return team.filter((member) => member.id !== taskId && under.has(member.id));
}

/**
 * `waitForTask` with `tree` for a team task: checks the task and the tasks under it at each event of the task's
 * stream (followed in the background, for `onEvent` and to check sooner) and otherwise on a growing interval.
 */
async function waitForTree(
  client: StaffroomClient,
  orgId: string,
  first: Task,
  options: WaitForTaskOptions,
  signal: AbortSignal,
): Promise<Task> {
  const taskId = first.id;
  const rootTaskId = first.rootTaskId ?? first.id;
  const stop = new AbortController();
  const streamSignal = AbortSignal.any([signal, stop.signal]);
  let failure: { error: unknown } | undefined;
  const throwFailure = (): void => {
    if (failure) throw failure.error;
  };
  let events = 0;
  let draining = false;
  let wake: () => void = () => undefined;
  const following = (async () => {
    try {
      for await (const event of taskEvents(
        client,
        orgId,
        taskId,
        { signal: streamSignal },
        async () => !stop.signal.aborted && !draining,
      )) {
        await options.onEvent?.(event);
        events++;
        wake();
      }
    } catch (error) {
      // A stream that is not available here leaves the polling alone; anything else (onEvent threw) is the caller's.
      if (!streamSignal.aborted && !(error instanceof StaffroomNetworkError) && !streamUnavailable(error)) failure = { error };
      wake();
    }
  })();

  /** The task that settles the wait, if one does now. */
  const check = async (task: Task): Promise<Task | undefined> => {
    if (!options.untilFinal && task.status === 'requires_action') return task;
    const under = tasksUnder(taskId, await listTeam(client, orgId, rootTaskId, { signal }));
    if (!options.untilFinal) {
      const waiting = under.find((member) => member.status === 'requires_action');
      if (waiting) return waiting;
    }
    if (!finalStatuses.has(task.status) || !under.every((member) => finalStatuses.has(member.status))) return undefined;
    // Read again: members that finished after the task was read may have added to its treeCostCredits.
    return under.length === 0 ? task : (await getTask(client, orgId, taskId, signal)).data;
  };

  try {
    let task = first;
    for (let delay = 250; ;) {
      const before = events;
      const settled = await check(task);
      if (settled?.id === taskId && finalStatuses.has(settled.status)) {
        // The task is final: its stream ends after its final event, which onEvent gets before this resolves
        // (on the connection open now; a drop ends it).
        draining = true;
        await following;
        throwFailure();
      }
      if (settled) return settled;
      throwFailure();
      if (events === before) {
        // Until the next event of the task, or the interval.
        const nap = new AbortController();
        wake = () => nap.abort();
        await sleep(delay, AbortSignal.any([signal, nap.signal])).catch((error: unknown) => {
          if (signal.aborted) throw error;
        });
        wake = () => undefined;
        throwFailure();
      }
      const { data, response } = await getTask(client, orgId, taskId, signal);
      task = data;
      // Back to checking often after an event; the interval grows while nothing happens.
      delay = events !== before ? 250 : (retryAfterMs(response.headers) ?? Math.min(2_000, delay * 2));
    }
  } finally {
    stop.abort();
    wake();
    await following;
  }
}

function streamUnavailable(error: unknown): boolean {
  return error instanceof StaffroomError && [200, 404, 405, 406, 501].includes(error.status);
}

async function poll(
  client: StaffroomClient,
  orgId: string,
  taskId: string,
  settles: (status: TaskStatus) => boolean,
  signal: AbortSignal,
): Promise<Task> {
  for (let delay = 250; ; delay = Math.min(2_000, delay * 2)) {
    const { data, response } = await getTask(client, orgId, taskId, signal);
    if (settles(data.status)) return data;
    await sleep(retryAfterMs(response.headers) ?? delay, signal);
  }
}

async function getTask(
  client: StaffroomClient,
  orgId: string,
  taskId: string,
  signal: AbortSignal,
): Promise<{ data: Task; response: Response }> {
  const { data, error, response } = await client.GET('/v1/organizations/{orgId}/tasks/{taskId}', {
    params: { path: { orgId, taskId } },
    signal,
  });
  if (!data) throw StaffroomError.fromResponse(response, error);
  return { data: data.data, response };
}

function parseEvent(data: string): Event {
  try {
    const event = JSON.parse(data) as Event;
    if (typeof event === 'object' && event !== null && typeof event.type === 'string') return event;
  } catch {
    // reported below
  }
  throw new MalformedEventError(`An event's data is not an Event: ${data.slice(0, 200)}`);
}

async function bodyOf(response: Response): Promise<unknown> {
  const text = await response.text().catch(() => '');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function backoff(baseMs: number, failures: number): number {
  return Math.min(30_000, baseMs * 2 ** (failures - 1));
}
