import type { components } from '../generated/api.js';
import type { RequestContext } from '../kernel/context.js';
import { listAuditEvents as listRows } from '../db/queries/audit.js';
import { asCaller, userOf } from './context.js';
import { requireOrganization, requireRole } from './organizations.js';
import { paginate } from './pagination.js';

type AuditEvent = components['schemas']['AuditEvent'];

export async function listAuditEvents(
  ctx: RequestContext,
  orgId: string,
  query: { limit?: number; cursor?: string; action?: string; targetType?: string; actorId?: string; since?: string },
): Promise<{ items: AuditEvent[]; nextCursor: string | null }> {
  userOf(ctx);
  return paginate(query, (page) =>
    asCaller(ctx, async (tx) => {
      requireRole(await requireOrganization(tx, orgId), ['owner', 'admin'], 'read the audit trail');
      return listRows(tx, orgId, { ...query, ...page });
    }),
  );
}
