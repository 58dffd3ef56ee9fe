import type { Handler } from '../http/types.js';
import * as billing from '../services/billing.js';

export const getBilling: Handler<'getBilling'> = async (req, ctx) => ({
  status: 200,
  body: await billing.getBilling(ctx, req.params.orgId),
});

export const listLedgerEntries: Handler<'listLedgerEntries'> = async (req, ctx) => {
  const page = await billing.listLedgerEntries(ctx, req.params.orgId, req.query);
  return { status: 200, body: page.items, page: { nextCursor: page.nextCursor } };
};

export const getUsage: Handler<'getUsage'> = async (req, ctx) => ({
  status: 200,
  body: await billing.getUsage(ctx, req.params.orgId, req.query.from, req.query.to),
});
