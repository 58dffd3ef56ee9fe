import type { components } from '../generated/api.js';
import { ApiError } from '../http/errors.js';
import type { RequestContext } from '../http/types.js';
import { listAuditEvents as listRows } from '../db/queries/audit.js';
import { asCaller, userOf } from './context.js';
import { requireOrganization } from './organizations.js';
import { decodeCursor, toPage } from './pagination.js';

type AuditEvent = components['schemas']['AuditEvent'];

export async function listAuditEvents(
  ctx: RequestContext,
  orgId: string,
  query: { limit?: number; cursor?: string; action?: string; targetType?: string; actorId?: string; since?: string },
): Promise<{ items: AuditEvent[]; nextCursor: string | null }> {
  userOf(ctx);
  const limit = query.limit ?? 20;
  const after = decodeCursor(query.cursor);
  const rows = await asCaller(ctx, async (tx) => {
    const org = await requireOrganization(tx, orgId);
    if (org.role === 'member') throw new ApiError('FORBIDDEN', 'Only owners and admins can read the audit trail.');
    return listRows(tx, orgId, { ...query, limit, after });
  });
  return toPage(rows, limit);
}
