import type { Handler } from '../http/types.js';
import * as billing from '../services/billing.js';
import * as checkout from '../services/checkout.js';

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

export const createCheckoutSession: Handler<'createCheckoutSession'> = async (req, ctx) => ({
  status: 201,
  body: await checkout.createCheckoutSession(ctx, req.params.orgId, req.body, req.headers['Idempotency-Key']),
});

export const createPortalSession: Handler<'createPortalSession'> = async (req, ctx) => ({
  status: 201,
  body: await checkout.createPortalSession(ctx, req.params.orgId, req.body.returnUrl),
});
