import type { Tx } from '../client.js';
import { keyset, type PageRequest } from '../keyset.js';
import type { components } from '../../generated/api.js';

export type WebhookEndpointRow = components['schemas']['WebhookEndpoint'];
export type WebhookDeliveryRow = components['schemas']['WebhookDelivery'];
export type WebhookEventType = components['schemas']['WebhookEventType'];

const endpointColumns = (tx: Tx) => tx`
  w.id, w.organization_id as "organizationId", w.url, w.description, w.event_types as "eventTypes", w.enabled,
  w.disabled_reason as "disabledReason", to_json(w.created_at)#>>'{}' as "createdAt", to_json(w.updated_at)#>>'{}' as "updatedAt"`;

const deliveryColumns = (tx: Tx) => tx`
  d.id, d.endpoint_id as "endpointId", d.event_seq::text as "eventId", d.event_type as "eventType", d.status, d.attempts,
  to_json(d.next_attempt_at)#>>'{}' as "nextAttemptAt", to_json(d.last_attempt_at)#>>'{}' as "lastAttemptAt",
  d.last_status_code as "lastStatusCode", d.last_error as "lastError", to_json(d.created_at)#>>'{}' as "createdAt",
  to_json(d.delivered_at)#>>'{}' as "deliveredAt"`;

export async function createEndpoint(
  tx: Tx,
  orgId: string,
  endpoint: { url: string; description: string; eventTypes: WebhookEventType[]; secret: string },
  requestId: string,
): Promise<string> {
  const [row] = await tx<{ id: string }[]>`
    select staffroom.create_webhook_endpoint(${orgId}, ${endpoint.url}, ${endpoint.description}, ${endpoint.eventTypes}::text[],
                                             ${endpoint.secret}, ${requestId}) as id`;
  return row!.id;
}

export async function findEndpoint(tx: Tx, orgId: string, id: string): Promise<WebhookEndpointRow | undefined> {
  const [row] = await tx<WebhookEndpointRow[]>`
    select ${endpointColumns(tx)} from staffroom.webhook_endpoints w where w.organization_id = ${orgId} and w.id = ${id}`;
  return row;
}

export async function listEndpoints(tx: Tx, orgId: string, page: PageRequest): Promise<WebhookEndpointRow[]> {
  const position = keyset(tx, ['w.created_at', 'w.id'], page);
  return tx<WebhookEndpointRow[]>`
    select ${endpointColumns(tx)} from staffroom.webhook_endpoints w
    where w.organization_id = ${orgId} ${position.after}
    ${position.orderAndLimit}`;
}

export async function updateEndpoint(tx: Tx, orgId: string, id: string, patch: Record<string, unknown>, requestId: string): Promise<void> {
  await tx`select staffroom.update_webhook_endpoint(${orgId}, ${id}, ${tx.json(patch as never)}, ${requestId})`;
}

export async function deleteEndpoint(tx: Tx, orgId: string, id: string, requestId: string): Promise<void> {
  await tx`select staffroom.delete_webhook_endpoint(${orgId}, ${id}, ${requestId})`;
}

export async function rotateSecret(tx: Tx, orgId: string, id: string, secret: string, requestId: string): Promise<void> {
  await tx`select staffroom.rotate_webhook_secret(${orgId}, ${id}, ${secret}, ${requestId})`;
}

export async function listDeliveries(
  tx: Tx,
  orgId: string,
  endpointId: string,
  options: PageRequest & { status?: WebhookDeliveryRow['status'] },
): Promise<WebhookDeliveryRow[]> {
  const position = keyset(tx, ['d.created_at', 'd.id'], options);
  return tx<WebhookDeliveryRow[]>`
    select ${deliveryColumns(tx)} from staffroom.webhook_deliveries d
    where d.organization_id = ${orgId} and d.endpoint_id = ${endpointId}
      ${options.status ? tx`and d.status = ${options.status}` : tx``}
      ${position.after}
    ${position.orderAndLimit}`;
}

export async function findDelivery(tx: Tx, orgId: string, endpointId: string, id: string): Promise<WebhookDeliveryRow | undefined> {
  const [row] = await tx<WebhookDeliveryRow[]>`
    select ${deliveryColumns(tx)} from staffroom.webhook_deliveries d
    where d.organization_id = ${orgId} and d.endpoint_id = ${endpointId} and d.id = ${id}`;
  return row;
}

export async function redeliver(tx: Tx, orgId: string, endpointId: string, id: string): Promise<void> {
  await tx`select staffroom.redeliver_webhook(${orgId}, ${endpointId}, ${id})`;
}

// The sender's side (service role): every write is guarded by the delivery's lease.

export interface DueDelivery {
  id: string;
  endpointId: string;
  url: string;
  secret: string;
  attempts: number;
  failingSince: string | null;
  /** The body, as the Standard Webhooks payload: the event's type and time, and the event. */
  payload: { type: string; timestamp: string; data: unknown };
}

/**
 * Claims up to `limit` deliveries that are due, to enabled endpoints, for `leaseMs`: at most one per endpoint, and
 * none for an endpoint that has a delivery in flight anywhere, so a slow endpoint holds only its own deliveries.
 */
export async function claimDeliveries(tx: Tx, owner: string, leaseMs: number, limit: number): Promise<DueDelivery[]> {
  return tx<DueDelivery[]>`
    with busy as (
      select distinct b.endpoint_id from staffroom.webhook_deliveries b
      where b.status = 'pending' and b.lease_expires_at >= now()),
    heads as (
      select distinct on (c.endpoint_id) c.id from staffroom.webhook_deliveries c
      join staffroom.webhook_endpoints w on w.id = c.endpoint_id and w.enabled
      where c.status = 'pending' and c.next_attempt_at <= now() and (c.lease_expires_at is null or c.lease_expires_at < now())
        and c.endpoint_id not in (select endpoint_id from busy)
      order by c.endpoint_id, c.next_attempt_at),
    due as (
      select d.id from staffroom.webhook_deliveries d
      where d.id in (select id from heads)
        and d.status = 'pending' and (d.lease_expires_at is null or d.lease_expires_at < now())
      order by d.next_attempt_at
      limit ${limit}
      for update of d skip locked),
    claimed as (
      update staffroom.webhook_deliveries d set lease_owner = ${owner}, lease_expires_at = now() + make_interval(secs => ${leaseMs / 1000})
      from due where d.id = due.id
      returning d.*)
    select c.id, c.endpoint_id as "endpointId", w.url, w.secret, c.attempts, to_json(w.failing_since)#>>'{}' as "failingSince",
           jsonb_build_object('type', e.type, 'timestamp', to_json(e.created_at)#>>'{}',
             'data', jsonb_build_object('id', e.seq::text, 'type', e.type, 'organizationId', e.organization_id, 'taskId', e.task_id,
                                        'createdAt', to_json(e.created_at)#>>'{}', 'data', e.data)) as payload
    from claimed c
    join staffroom.webhook_endpoints w on w.id = c.endpoint_id
    join staffroom.events e on e.organization_id = c.organization_id and e.seq = c.event_seq`;
}

/** Records one attempt's outcome: delivered, due again at `retryAt`, or failed for good (retryAt null). */
export async function recordAttempt(
  tx: Tx,
  id: string,
  owner: string,
  attempt: { ok: boolean; status: number | null; error: string | null; retryAt: Date | null },
): Promise<boolean> {
  const status = attempt.ok ? 'delivered' : attempt.retryAt ? 'pending' : 'failed';
  const result = await tx`
    update staffroom.webhook_deliveries set
      status = ${status}, attempts = attempts + 1, last_attempt_at = now(), last_status_code = ${attempt.status},
      last_error = ${attempt.error}, next_attempt_at = ${status === 'pending' ? attempt.retryAt : null},
      delivered_at = ${attempt.ok ? tx`now()` : tx`delivered_at`}, lease_owner = null, lease_expires_at = null
    where id = ${id} and lease_owner = ${owner}`;
  return result.count === 1;
}

/** An endpoint's failure streak: starts at the first failure, ends with a success; past `disableAfterMs` it is disabled. */
export async function recordEndpointHealth(tx: Tx, endpointId: string, ok: boolean, disableAfterMs: number): Promise<boolean> {
  if (ok) {
    await tx`update staffroom.webhook_endpoints set failing_since = null where id = ${endpointId} and failing_since is not null`;
    return false;
  }
  const [row] = await tx<{ disabled: boolean }[]>`
    update staffroom.webhook_endpoints set
      failing_since = coalesce(failing_since, now()),
      enabled = case when failing_since < now() - make_interval(secs => ${disableAfterMs / 1000}) then false else enabled end,
      disabled_reason = case when failing_since < now() - make_interval(secs => ${disableAfterMs / 1000})
                             then 'Every delivery failed for 3 days.' else disabled_reason end,
      updated_at = now()
    where id = ${endpointId}
    returning not enabled as disabled`;
  return row?.disabled ?? false;
}
