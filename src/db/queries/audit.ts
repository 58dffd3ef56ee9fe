import type { Tx } from '../client.js';
import type { Cursor } from '../../services/pagination.js';

export type AuditTargetType = 'organization' | 'member' | 'invitation' | 'api_key' | 'employee' | 'billing';

export interface AuditEntry {
  organizationId: string;
  actor: { type: 'user' | 'api_key' | 'system'; id: string | null; email: string | null };
  action: string;
  targetType: AuditTargetType;
  targetId: string | null;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
  requestId: string | null;
}

/** Written in the same transaction as the change it records. */
export async function insertAuditEvent(tx: Tx, entry: AuditEntry): Promise<void> {
  await tx`
    insert into public.audit_events
      (organization_id, actor_type, actor_id, actor_email, action, target_type, target_id, before, after, request_id)
    values (${entry.organizationId}, ${entry.actor.type}, ${entry.actor.id}, ${entry.actor.email}, ${entry.action},
            ${entry.targetType}, ${entry.targetId}, ${entry.before ? tx.json(entry.before as never) : null},
            ${entry.after ? tx.json(entry.after as never) : null}, ${entry.requestId})`;
}

export interface AuditEventRow {
  id: string;
  organizationId: string;
  actor: { type: 'user' | 'api_key' | 'system'; id: string | null; email: string | null };
  action: string;
  targetType: AuditTargetType;
  targetId: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  requestId: string | null;
  createdAt: string;
}

export async function listAuditEvents(
  tx: Tx,
  orgId: string,
  options: { limit: number; after?: Cursor; action?: string; targetType?: string; actorId?: string; since?: string },
): Promise<AuditEventRow[]> {
  return tx<AuditEventRow[]>`
    select e.id, e.organization_id as "organizationId",
           json_build_object('type', e.actor_type, 'id', e.actor_id, 'email', e.actor_email) as actor,
           e.action, e.target_type as "targetType", e.target_id as "targetId", e.before, e.after,
           e.request_id as "requestId", to_json(e.created_at)#>>'{}' as "createdAt"
    from public.audit_events e
    where e.organization_id = ${orgId}
      ${options.action ? tx`and e.action = ${options.action}` : tx``}
      ${options.targetType ? tx`and e.target_type = ${options.targetType}` : tx``}
      ${options.actorId ? tx`and e.actor_id = ${options.actorId}` : tx``}
      ${options.since ? tx`and e.created_at >= ${options.since}::text::timestamptz` : tx``}
      ${options.after ? tx`and (e.created_at, e.id) < (${options.after.createdAt}::text::timestamptz, ${options.after.id}::uuid)` : tx``}
    order by e.created_at desc, e.id desc
    limit ${options.limit + 1}`;
}
