import type { Handler } from '../http/types.js';
import * as catalog from '../services/catalog.js';
import * as tools from '../services/tools.js';

const cacheable = { 'Cache-Control': 'public, max-age=3600, stale-while-revalidate=86400' };
const onePage = Object.freeze({ nextCursor: null });
// The catalog is deeply frozen and handed out as it is: the core serialises a frozen body once.

export const listPlans: Handler<'listPlans'> = async () => ({
  status: 200,
  body: catalog.plans as catalog.Plan[],
  page: onePage,
  headers: cacheable,
});

export const listCreditPacks: Handler<'listCreditPacks'> = async () => ({
  status: 200,
  body: catalog.creditPacks as catalog.CreditPack[],
  page: onePage,
  headers: cacheable,
});

export const listModels: Handler<'listModels'> = async (req, ctx) => ({
  status: 200,
  body: catalog.listModels(ctx.deps.providers, req.query.provider) as catalog.Model[],
  page: onePage,
  headers: cacheable,
});

export const listTools: Handler<'listTools'> = async () => ({
  status: 200,
  body: tools.builtInTools as tools.ToolDefinition[],
  page: onePage,
  headers: cacheable,
});
