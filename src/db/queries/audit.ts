import type { Tx } from '../client.js';

export interface AuditEntry {
  organizationId: string;
  actor: { type: 'user' | 'api_key' | 'system'; id: string | null; email: string | null };
  action: string;
  targetType: string;
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
