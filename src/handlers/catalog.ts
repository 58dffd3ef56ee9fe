import type { Handler } from '../http/types.js';
import * as catalog from '../services/catalog.js';

const cacheable = { 'Cache-Control': 'public, max-age=3600' };
const onePage = { nextCursor: null };

export const listPlans: Handler<'listPlans'> = async () => ({
  status: 200,
  body: [...catalog.plans],
  page: onePage,
  headers: cacheable,
});

export const listCreditPacks: Handler<'listCreditPacks'> = async () => ({
  status: 200,
  body: [...catalog.creditPacks],
  page: onePage,
  headers: cacheable,
});

export const listModels: Handler<'listModels'> = async (req) => ({
  status: 200,
  body: [...catalog.listModels(req.query.provider)],
  page: onePage,
  headers: cacheable,
});
