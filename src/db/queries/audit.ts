// Audit events are written by the database functions that make each change (staffroom.record_audit);
// here they are only read.
import type { Tx } from '../client.js';
import { keyset, type PageRequest } from '../keyset.js';

export type AuditTargetType = 'organization' | 'member' | 'invitation' | 'api_key' | 'employee' | 'billing';

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
  options: PageRequest & { action?: string; targetType?: string; actorId?: string; since?: string },
): Promise<AuditEventRow[]> {
  const page = keyset(tx, ['e.created_at', 'e.id'], options);
  return tx<AuditEventRow[]>`
    select e.id, e.organization_id as "organizationId",
           json_build_object('type', e.actor_type, 'id', e.actor_id, 'email', e.actor_email) as actor,
           e.action, e.target_type as "targetType", e.target_id as "targetId", e.before, e.after,
           e.request_id as "requestId", to_json(e.created_at)#>>'{}' as "createdAt"
    from staffroom.audit_events e
    where e.organization_id = ${orgId}
      ${options.action ? tx`and e.action = ${options.action}` : tx``}
      ${options.targetType ? tx`and e.target_type = ${options.targetType}` : tx``}
      ${options.actorId ? tx`and e.actor_id = ${options.actorId}` : tx``}
      ${options.since ? tx`and e.created_at >= ${options.since}::text::timestamptz` : tx``}
      ${page.after}
    ${page.orderAndLimit}`;
}
