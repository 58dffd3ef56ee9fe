import type { Db, Tx } from '../client.js';
import type { components } from '../../generated/api.js';

export type EventRow = components['schemas']['Event'];
export type EventType = components['schemas']['EventType'];

const eventColumns = (tx: Tx) => tx`
  e.seq::text as id, e.type, e.organization_id as "organizationId", e.task_id as "taskId",
  to_json(e.created_at)#>>'{}' as "createdAt", e.data`;

/**
 * The channel on which the database announces each event. Any session may listen, so the payload names no
 * tenant: it is the event's task's wake token (see eventWakeToken), '' for an event without a task.
 */
export const eventsChannel = 'staffroom_events';

/**
 * What the events channel carries for a task's events: a keyed hash in 4,096 values, each shared by many tasks.
 * Runs as the schema's owner (no role may compute it, or it could tell which task a notification is about).
 */
export async function eventWakeToken(db: Db, taskId: string): Promise<string> {
  const [row] = await db<{ token: string }[]>`select staffroom.event_wake_token(${taskId}::uuid) as token`;
  return row!.token;
}

/**
 * A task's events after `after`, in order, as the caller sees them; undefined when the caller cannot see the
 * task (any more).
 */
export async function taskEventsAfter(
  tx: Tx,
  orgId: string,
  taskId: string,
  after: bigint,
  limit: number,
): Promise<{ status: string; events: EventRow[] } | undefined> {
  const [task] = await tx<{ status: string }[]>`
    select t.status from staffroom.tasks t where t.organization_id = ${orgId} and t.id = ${taskId}`;
  if (!task) return undefined;
  const events = await tx<EventRow[]>`
    select ${eventColumns(tx)} from staffroom.events e
    where e.task_id = ${taskId} and e.organization_id = ${orgId} and e.seq > ${after.toString()}::bigint
    order by e.seq
    limit ${limit}`;
  return { status: task.status, events };
}

/** The organization's events after `after`, oldest first, without the text deltas (they are only in a task's stream). */
export async function organizationEventsAfter(
  tx: Tx,
  orgId: string,
  options: { after: bigint; type?: EventType; limit: number },
): Promise<EventRow[]> {
  return tx<EventRow[]>`
    select ${eventColumns(tx)} from staffroom.events e
    where e.organization_id = ${orgId} and e.seq > ${options.after.toString()}::bigint
      and ${options.type ? tx`e.type = ${options.type}` : tx`e.type <> 'task.output_delta'`}
    order by e.seq
    limit ${options.limit}`;
}

/** A step's event, written by the worker that holds the task (service role). */
export async function emitTaskEvent(tx: Tx, taskId: string, workerId: string, type: EventType, data: unknown): Promise<void> {
  await tx`select staffroom.emit_task_event(${taskId}, ${workerId}, ${type}, ${tx.json(data as never)})`;
}

/** The organization's plan and credits changed (Stripe), for its listeners and webhooks (service role). */
export async function emitBillingUpdated(tx: Tx, orgId: string): Promise<void> {
  await tx`select staffroom.emit_billing_updated(${orgId})`;
}

/** Events older than 30 days go (service role); returns how many. */
export async function sweepEvents(tx: Tx): Promise<number> {
  const [row] = await tx<{ swept: number }[]>`select staffroom.sweep_events() as swept`;
  return row!.swept;
}
