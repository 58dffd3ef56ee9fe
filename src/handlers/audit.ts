import type { Handler } from '../http/types.js';
import * as audit from '../services/audit.js';

export const listAuditEvents: Handler<'listAuditEvents'> = async (req, ctx) => {
  const page = await audit.listAuditEvents(ctx, req.params.orgId, req.query);
  return { status: 200, body: page.items, page: { nextCursor: page.nextCursor } };
};
